// Spawns migrate-child.ts processes and drives them: wait for "ready", send "go", collect results.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { MigrationResult } from "../../src/metadata/types.js";

const CHILD = path.join(import.meta.dirname, "fixtures", "migrate-child.ts");

export interface ChildOutcome {
  result: MigrationResult;
  mediaId: string;
  worked: boolean;
}

export interface RaceChild {
  readonly process: ChildProcess;
  ready: Promise<void>;
  outcome: Promise<ChildOutcome>;
  go(): void;
}

export function startChild(args: string[]): RaceChild {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    cwd: path.resolve(import.meta.dirname, "../.."),
  });
  let out = "";
  let err = "";
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    if (out.includes("ready\n")) onReady();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const outcome = new Promise<ChildOutcome>((resolve, reject) => {
    child.on("exit", (code) => {
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !last.startsWith("{")) {
        reject(new Error(`child exited with ${code}: ${err || out}`));
        return;
      }
      resolve(JSON.parse(last) as ChildOutcome);
    });
  });
  return {
    process: child,
    ready: Promise.race([ready, outcome.then(() => undefined)]),
    outcome,
    go: () => child.stdin.end("go\n"),
  };
}
