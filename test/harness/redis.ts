// Real redis-server processes on free loopback ports (no persistence), with helpers to
// kill -9, freeze (SIGSTOP), thaw (SIGCONT) and restart one — for shard-failure tests.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort } from "./net.js";
import { requireService } from "./require.js";

export interface RedisOptions {
  /** Require AUTH with this password (`requirepass`). */
  password?: string;
  /** Also listen on a unix socket (in a fresh temp directory). */
  unixSocket?: boolean;
  /** Extra redis-server arguments, e.g. `["--maxmemory", "10mb"]`. */
  args?: string[];
  /**
   * Serve TLS only (`--tls-port`, plain port disabled) with these PEM files; `url` is then
   * `rediss://…`. Clients are not asked for certificates.
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /**
   * Run as a cluster node with its bus on its own free port. Redis's default bus port is
   * port + 10000, which is past 65535 (or taken) for many ephemeral ports.
   */
  cluster?: boolean;
}

export interface RedisProcess {
  readonly port: number;
  readonly host: "127.0.0.1";
  /** `redis://[:password@]127.0.0.1:port`. */
  readonly url: string;
  /** Path of the unix socket, when `unixSocket` was asked for. */
  readonly socketPath: string | undefined;
  /** The OS process ID of the current incarnation. */
  readonly pid: number;
  /** kill -9; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: the process freezes, its TCP connections stay open. */
  stop(): void;
  /** SIGCONT. */
  cont(): void;
  /** Starts it again on the same port (and socket), empty. */
  restart(): Promise<void>;
  /** Stops it for good and removes its files. */
  close(): Promise<void>;
}

async function launch(args: string[]): Promise<ChildProcess> {
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not become ready in 10 s:\n${output}`));
    }, 10_000);
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${output}`));
    });
  });
  child.stdout.resume();
  child.stderr.resume();
  child.removeAllListeners("exit");
  return child;
}

/** Starts one redis-server on a free loopback port. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisProcess> {
  requireService("redis-server", "redis-server");
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), "mmk-redis-"));
  const socketPath = options.unixSocket ? path.join(dir, "redis.sock") : undefined;
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--logfile",
    "",
    "--daemonize",
    "no",
    ...(options.cluster
      ? ["--cluster-enabled", "yes", "--cluster-port", String(await freePort())]
      : []),
    ...(options.password ? ["--requirepass", options.password] : []),
    ...(socketPath ? ["--unixsocket", socketPath, "--unixsocketperm", "700"] : []),
    ...(options.tls
      ? [
          "--port",
          "0",
          "--tls-port",
          String(port),
          "--tls-cert-file",
          options.tls.certFile,
          "--tls-key-file",
          options.tls.keyFile,
          "--tls-ca-cert-file",
          options.tls.caFile,
          "--tls-auth-clients",
          "no",
        ]
      : []),
    ...(options.args ?? []),
  ];
  let child = await launch(args);
  let closed = false;
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  };
  return {
    port,
    host: "127.0.0.1",
    url: `${options.tls ? "rediss" : "redis"}://${
      options.password ? `:${encodeURIComponent(options.password)}@` : ""
    }127.0.0.1:${port}`,
    socketPath,
    get pid() {
      return child.pid!;
    },
    kill,
    stop: () => void child.kill("SIGSTOP"),
    cont: () => void child.kill("SIGCONT"),
    restart: async () => {
      await kill();
      child = await launch(args);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      child.kill("SIGCONT");
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `n` redis-servers. */
export async function startRedisShards(
  n: number,
  options: RedisOptions = {},
): Promise<RedisProcess[]> {
  return Promise.all(Array.from({ length: n }, () => startRedis(options)));
}
