// Child processes of the shipped CLI for multi-process tests and benches: start with a config
// file, collect their JSON log lines with the time the test received them, signal, wait for exit.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { projectRoot } from "./built.js";

export const CLI = path.join(projectRoot, "dist/cli/index.js");

export interface LogLine {
  at: number;
  line: Record<string, unknown>;
}

export interface ServerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly logs: LogLine[];
  /** The raw output, for failure messages. */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

/** `matrix-media-kit serve --config file`, resolved once it logs "media server listening". */
export function startServerProcess(
  name: string,
  configFile: string,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, "serve", "--config", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, MEDIA_CONFIG: "", ...env },
  });
  let output = "";
  let pending = "";
  const logs: LogLine[] = [];
  let exited = false;
  child.once("exit", () => (exited = true));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start in 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      const at = performance.now();
      for (const text of lines) {
        try {
          const line = JSON.parse(text) as Record<string, unknown>;
          logs.push({ at, line });
          if (line.msg === "media server listening") {
            clearTimeout(timer);
            resolve(server(String(line.url)));
          }
        } catch {
          // not a JSON line (a stack trace): kept in output()
        }
      }
    };
    const server = (url: string): ServerProcess => ({
      name,
      child,
      url,
      logs,
      output: () => output,
      exited: () => exited,
      async stop() {
        if (exited) return;
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
        await done;
        clearTimeout(kill);
      },
    });
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${output}`));
    });
  });
}
