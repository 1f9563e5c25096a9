// The "remote server" of bench/federation.bench.ts: a node:https server on 127.0.0.3 in a
// child process (its own core, and its memory outside the benchmark's RSS), certified by a
// throwaway CA made with the openssl CLI. It answers
// `GET /_matrix/federation/v1/media/download/b<size>x<n>` with a multipart/mixed body (a JSON
// part, then <size> bytes generated from a 1 MiB buffer, so even 1 GiB is never held) and
// counts the requests per media ID.
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { createTestCertificates } from "../test/cache/certs.js";

export const PEER_IP = "127.0.0.3";
const MEDIA_PATH = /^\/_matrix\/federation\/v1\/media\/download\/(b(\d+)x\d+)$/;
const BOUNDARY = "6f1c0e9d2b3a4c5d";

interface Start {
  type: "start";
  key: string;
  cert: string;
}
interface Stats {
  type: "stats";
  total: number;
  counts: Record<string, number>;
}

export interface Peer {
  /** The server name to fetch from: `127.0.0.3:<port>`. */
  serverName: string;
  /** `https://127.0.0.3:<port>`. */
  baseUrl: string;
  /** The CA certificate (PEM) of the peer's certificate. */
  ca: Buffer;
  /** Federation download requests received, in total and per media ID. */
  stats(): Promise<{ total: number; counts: Record<string, number> }>;
  close(): Promise<void>;
}

/** The media ID the peer answers with `size` bytes; `n` makes it unique. */
export function peerMediaId(size: number, n: number): string {
  return `b${size}x${n}`;
}

/** Starts the peer in a child process. */
export async function startPeer(): Promise<Peer> {
  const certs = await createTestCertificates({ sans: [`IP:${PEER_IP}`] });
  await certs.cleanup();
  const child: ChildProcess = fork(import.meta.filename, [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, MMK_BENCH_FED_PEER: "1" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = <T>(): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the peer exited with ${code}`));
      child.once("exit", onExit);
      child.once("message", (message) => {
        child.off("exit", onExit);
        resolve(message as T);
      });
    });
  const ready = next<{ port: number }>();
  child.send({
    type: "start",
    key: certs.key.toString(),
    cert: certs.cert.toString(),
  } satisfies Start);
  const { port } = await ready;
  let queue = Promise.resolve();
  return {
    serverName: `${PEER_IP}:${port}`,
    baseUrl: `https://${PEER_IP}:${port}`,
    ca: certs.ca,
    stats: () => {
      const answer = queue.then(() => {
        const reply = next<Stats>();
        child.send({ type: "stats" });
        return reply;
      });
      queue = answer.then(
        () => undefined,
        () => undefined,
      );
      return answer.then(({ total, counts }) => ({ total, counts }));
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill();
      await exited;
    },
  };
}

/** Resolves on `drain`, or when the response is gone. */
function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

/** The child: serves until its parent goes away. */
async function serve(start: Start): Promise<void> {
  const pattern = randomBytes(1024 * 1024);
  const counts: Record<string, number> = {};
  let total = 0;
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${BOUNDARY}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="bench.bin"\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  const server = https.createServer({ key: start.key, cert: start.cert }, (req, res) => {
    const match = MEDIA_PATH.exec(req.url ?? "");
    if (req.method !== "GET" || !match) {
      res.writeHead(404, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized" }));
    }
    if (!req.headers.authorization?.startsWith("X-Matrix ")) {
      res.writeHead(401, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ errcode: "M_UNAUTHORIZED", error: "No X-Matrix" }));
    }
    const mediaId = match[1]!;
    const size = Number(match[2]);
    counts[mediaId] = (counts[mediaId] ?? 0) + 1;
    total++;
    res.writeHead(200, {
      "content-type": `multipart/mixed; boundary=${BOUNDARY}`,
      "content-length": head.length + size + tail.length,
    });
    void (async () => {
      res.write(head);
      // The first chunk carries the media ID, so every media has its own bytes (and blob).
      const first = Buffer.from(pattern);
      first.write(mediaId);
      let sent = 0;
      while (sent < size && !res.destroyed) {
        const n = Math.min(pattern.length, size - sent);
        const piece = (sent === 0 ? first : pattern).subarray(0, n);
        sent += n;
        if (!res.write(piece)) await drained(res);
      }
      res.end(tail);
    })();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, PEER_IP, resolve));
  process.on("message", (message: { type: string }) => {
    if (message.type === "stats") process.send!({ type: "stats", total, counts } satisfies Stats);
  });
  process.on("disconnect", () => process.exit(0));
  process.send!({ port: (server.address() as AddressInfo).port });
}

if (process.env.MMK_BENCH_FED_PEER === "1" && process.send) {
  process.once("message", (message: Start) => void serve(message));
}
