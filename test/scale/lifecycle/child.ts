// Child processes of the built CLI (`node dist/cli/index.js serve --config FILE`) for the
// lifecycle tests: signals reach a real process, and its log lines are read back.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { projectRoot } from "../../harness/built.js";

export const CLI = path.join(projectRoot, "dist/cli/index.js");
export const notBuilt = !existsSync(CLI) && "dist/ is not built (npm test builds it first)";
export const ALICE = "alice-token";
export const UPLOAD = "/_matrix/media/v3/upload";

export interface Child {
  process: ChildProcess;
  url: string;
  port: number;
  output: () => string;
  /** Resolves once the output matches `re` (searched from the start). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves to the exit code once the process exits. */
  exited: Promise<number | null>;
}

/** A temp directory with a config file; `dir` holds the data (fs datastore, sqlite). */
export async function tempConfig(config: Record<string, unknown>): Promise<{
  dir: string;
  file: string;
  write(c: unknown): Promise<void>;
  remove(): Promise<void>;
}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "mmk-lifecycle-"));
  const file = path.join(dir, "media.yaml");
  const write = (c: unknown) => writeFile(file, typeof c === "string" ? c : stringify(c));
  await write(config);
  return { dir, file, write, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The base config: token auth, embedded metadata, an fs datastore, a free port. */
export function baseConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    serverName: "media.test",
    listen: { port: 0 },
    machineId: 1,
    auth: { tokens: { [ALICE]: "@alice:media.test" } },
    thumbnails: { enabled: false },
    ...extra,
  };
}

/** This process's environment without the variables the config reads. */
function withoutServerEnv(): NodeJS.ProcessEnv {
  const { MEDIA_CONFIG: _c, MACHINE_ID: _m, PORT: _p, ...env } = process.env;
  return env;
}

/** Starts `serve --config file` and waits for its "listening" line. */
export async function startChild(configFile: string): Promise<Child> {
  const child = spawn(process.execPath, [CLI, "serve", "--config", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: withoutServerEnv(),
  });
  let output = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const w of waiters) w();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const waitFor = (re: RegExp, ms = 60_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(output);
        if (m) {
          done();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${re} in the output within ${ms} ms:\n${output}`));
      }, ms);
      const onExit = () => {
        check();
        done();
        reject(new Error(`server exited before ${re}:\n${output}`));
      };
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off("exit", onExit);
      };
      waiters.add(check);
      child.once("exit", onExit);
      check();
    });
  try {
    const m = await waitFor(/"msg":"media server listening".*?"url":"([^"]+)"/);
    const url = m[1]!;
    return {
      process: child,
      url,
      port: Number(new URL(url).port),
      output: () => output,
      waitFor,
      exited,
    };
  } catch (err) {
    child.kill("SIGKILL");
    if (child.exitCode === null && child.signalCode === null) await exited;
    throw err;
  }
}

/** {@link startChild} on a {@link tempConfig}, removing the directory when it fails to start. */
export async function startIn(cfg: { file: string; remove(): Promise<void> }): Promise<Child> {
  try {
    return await startChild(cfg.file);
  } catch (err) {
    await cfg.remove();
    throw err;
  }
}

/** SIGTERM, then SIGKILL after 30 s; resolves to the exit code. */
export async function stopChild(child: Child): Promise<number | null> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return child.exited;
  child.process.kill("SIGTERM");
  const timer = setTimeout(() => child.process.kill("SIGKILL"), 30_000);
  const code = await child.exited;
  clearTimeout(timer);
  return code;
}

/** Every file under `dir`, relative paths. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/**
 * A raw HTTP/1.1 connection: `send` writes bytes, `response()` resolves to the next whole
 * response (status and body; bodies are read by content-length).
 */
export async function rawConnection(port: number) {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => undefined);
  let buffer = Buffer.alloc(0);
  let closed = false;
  const listeners = new Set<() => void>();
  socket.on("data", (d: Buffer) => {
    buffer = Buffer.concat([buffer, d]);
    for (const l of listeners) l();
  });
  socket.on("close", () => {
    closed = true;
    for (const l of listeners) l();
  });
  const parse = (): { status: number; headers: string; body: string } | undefined => {
    const end = buffer.indexOf("\r\n\r\n");
    if (end < 0) return undefined;
    const head = buffer.subarray(0, end).toString();
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (buffer.length < end + 4 + length) return undefined;
    const body = buffer.subarray(end + 4, end + 4 + length).toString();
    buffer = buffer.subarray(end + 4 + length);
    return { status: Number(head.split(" ")[1]), headers: head, body };
  };
  return {
    send: (data: string | Buffer) =>
      new Promise<boolean>((resolve) => {
        if (closed || socket.destroyed) return resolve(false);
        socket.write(data, (err) => resolve(!err));
      }),
    /** The next response, or undefined when the connection closed first. */
    response: () =>
      new Promise<{ status: number; headers: string; body: string } | undefined>((resolve) => {
        const check = () => {
          const r = parse();
          if (r || closed) {
            listeners.delete(check);
            resolve(r);
          }
        };
        listeners.add(check);
        check();
      }),
    closed: () =>
      new Promise<void>((resolve) => (closed ? resolve() : socket.once("close", () => resolve()))),
    destroy: () => socket.destroy(),
  };
}

/** The request head of an upload of `length` bytes by alice. */
export const uploadHead = (port: number, length: number) =>
  `POST ${UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${ALICE}\r\n` +
  `Content-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
