// Scale-out benchmark with the built CLI: mixed upload/download throughput of three
// processes sharing one Redis, one PostgreSQL and one fs datastore against one process;
// background-lease takeover after a SIGKILL of the leader against the lease TTL; wake-up of
// a pending upload waited for in another process, over Redis pub/sub against polling.
// Run: npm run build && node --expose-gc --import tsx bench/scale.bench.ts
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { memoryCoordinator, redisCoordinator } from "../src/coordination/index.js";
import type { Coordinator } from "../src/coordination/index.js";
import { fsDatastore } from "../src/datastore/index.js";
import { createMediaIdGenerator } from "../src/ids/index.js";
import { postgresMetadataStore } from "../src/metadata/index.js";
import { createMediaRepository, type MediaRepository } from "../src/repository/index.js";
import { freePort } from "../test/harness/net.js";
import { createTestDatabase } from "../test/harness/postgres.js";
import { startRedis } from "../test/harness/redis.js";
import { tempDir } from "../test/harness/tmp.js";
import { CLI, startServerProcess, type ServerProcess } from "../test/harness/server-process.js";
import { finish, percentile, report } from "./lib.js";

const TOKEN = "scale-bench-token";
const SERVER = "scale.bench";
const USER = `@load:${SERVER}`;
const LOAD_MS = Number(process.env.BENCH_MS ?? 8000);
const CLIENTS = 20;
const LEASE_TTL_MS = 2_000;
const WAKE_ROUNDS = 20;
const BASELINE_POLL_MS = 500;
const CORES =
  "2-core machine: the 3 processes, Redis, PostgreSQL and the load generator share 2 cores";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const dir = await tempDir("mmk-bench-scale-");
const [redis, db] = await Promise.all([startRedis(), createTestDatabase()]);
const configs = new Map<string, string>();
const running: ServerProcess[] = [];

async function configFile(name: string): Promise<string> {
  const known = configs.get(name);
  if (known) return known;
  const raw = {
    serverName: SERVER,
    listen: { host: "127.0.0.1", port: await freePort() },
    datastores: [
      {
        id: "fs",
        type: "fs",
        kinds: ["local", "remote", "thumbnail", "preview"],
        root: path.join(dir.path, "media"),
      },
    ],
    metadata: { postgres: db.url },
    cache: { redis: { shards: [redis.url] } },
    auth: { tokens: { [TOKEN]: USER } },
    limits: { rateLimit: false, maxConcurrentUploadsPerUser: 64 },
    background: { leaseTtlMs: LEASE_TTL_MS },
  };
  const file = path.join(dir.path, `${name}.json`);
  await writeFile(file, JSON.stringify(raw));
  configs.set(name, file);
  return file;
}

let machineId = 11;

/** A CLI process; each start has a new MACHINE_ID (a SIGKILLed one stays leased for a while). */
async function start(name: string): Promise<ServerProcess> {
  const p = await startServerProcess(name, await configFile(name), {
    MACHINE_ID: String(machineId++),
  });
  running.push(p);
  return p;
}

async function call(base: string, urlPath: string, init: RequestInit = {}) {
  const res = await fetch(base + urlPath, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) },
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** `CLIENTS` loops of ~60 % downloads / 40 % uploads of 16–64 KiB, round-robin over `urls`. */
async function mixedLoad(urls: readonly string[], ms: number) {
  const stored: string[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  const deadline = performance.now() + ms;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < deadline) {
        const base = urls[next++ % urls.length]!;
        try {
          if (stored.length === 0 || Math.random() < 0.4) {
            const body = randomBytes(16 * 1024 + Math.floor(Math.random() * 48 * 1024));
            const res = await call(base, "/_matrix/media/v3/upload", {
              method: "POST",
              body,
              headers: { "content-type": "application/octet-stream" },
            });
            if (res.status !== 200) throw new Error(`upload ${res.status}`);
            const uri = (JSON.parse(res.body.toString()) as { content_uri: string }).content_uri;
            stored.push(uri.slice("mxc://".length));
          } else {
            const media = stored[Math.floor(Math.random() * stored.length)]!;
            const res = await call(base, `/_matrix/client/v1/media/download/${media}`);
            if (res.status !== 200) throw new Error(`download ${res.status}`);
          }
          ok++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { perSec: (ok * 1000) / (performance.now() - startedAt), failed };
}

async function throughput(): Promise<void> {
  const procs = [await start("p1"), await start("p2"), await start("p3")];
  const urls = procs.map((p) => p.url);
  await mixedLoad(urls, 1_000); // warm up all three
  // Alternate halves so a neighbour's load on the shared cores hits both figures alike.
  const one = { perSec: 0, failed: 0 };
  const three = { perSec: 0, failed: 0 };
  for (let i = 0; i < 2; i++) {
    for (const [into, targets] of [
      [one, [urls[0]!]],
      [three, urls],
    ] as const) {
      const r = await mixedLoad(targets, LOAD_MS / 2);
      into.perSec += r.perSec / 2;
      into.failed += r.failed;
    }
  }
  report({
    name: `mixed load, ${CLIENTS} clients, 3 processes`,
    value: three.perSec,
    baseline: one.perSec,
    baselineName: "1 process (2 others idle)",
    unit: "req/s",
    note:
      `60/40 downloads/uploads of 16-64 KiB, round-robin; failures ${three.failed} vs ` +
      `${one.failed}; ${CORES}, so no linear scaling is possible`,
  });
}

function electedSince(p: ServerProcess, since: number): number | undefined {
  return p.logs.find(({ at, line }) => at > since && line.msg === "elected leader")?.at;
}

function leaderOf(procs: ServerProcess[]): ServerProcess | undefined {
  let best: { p: ServerProcess; at: number } | undefined;
  for (const p of procs) {
    const events = p.logs.filter(
      ({ line }) => line.msg === "elected leader" || line.msg === "no longer leader",
    );
    const last = events.at(-1);
    if (last?.line.msg === "elected leader" && (!best || last.at > best.at))
      best = { p, at: last.at };
  }
  return best?.p;
}

async function waitFor<T>(what: string, probe: () => T | undefined, ms = 20_000): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function takeover(): Promise<void> {
  const p3 = running.find((p) => p.name === "p3")!;
  await p3.stop();
  let pair = running.filter((p) => p.name !== "p3" && !p.exited());
  const times: number[] = [];
  for (let round = 0; round < 3; round++) {
    const leader = await waitFor("a leader", () => leaderOf(pair));
    const other = pair.find((p) => p !== leader)!;
    const killedAt = performance.now();
    leader.child.kill("SIGKILL");
    const electedAt = await waitFor("the takeover", () => electedSince(other, killedAt));
    times.push(electedAt - killedAt);
    await new Promise((r) => (leader.exited() ? r(undefined) : leader.child.once("exit", r)));
    pair = [other, await start(leader.name)];
  }
  const median = percentile(times, 50);
  // lib's ratio is baseline / value for lower-is-better: TTL / takeover, so the issue's
  // "takeover / TTL <= 1.34" is "ratio >= 1 / 1.34".
  report({
    name: "leader takeover after SIGKILL, median of 3",
    value: median,
    baseline: LEASE_TTL_MS,
    baselineName: "background.leaseTtlMs",
    unit: "ms",
    lowerIsBetter: true,
    target: 0.746,
    note:
      `takeover / TTL = ${(median / LEASE_TTL_MS).toFixed(2)} (target <= 1.34: TTL + one ` +
      `retry at TTL/3); rounds ${times.map((t) => Math.round(t)).join(", ")} ms`,
  });
}

/** Time from the upload's completion to the waiting reader's answer, `WAKE_ROUNDS` times. */
async function wakeRounds(
  create: () => Promise<string>,
  wait: (mxcPath: string) => Promise<unknown>,
  put: (mxcPath: string, body: Uint8Array) => Promise<void>,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < WAKE_ROUNDS; i++) {
    const mxcPath = await create();
    const waiting = wait(mxcPath).then(() => performance.now());
    // Vary the moment of the upload so a poller is met at every phase of its interval.
    await sleep(40 + ((i * 53) % BASELINE_POLL_MS));
    await put(mxcPath, randomBytes(4096));
    const done = performance.now();
    // An answer that arrived before the uploader's own counts as 0.
    out.push(Math.max(0, (await waiting) - done));
  }
  return out;
}

async function overHttp(a: string, b: string): Promise<number[]> {
  return wakeRounds(
    async () => {
      const res = await call(a, "/_matrix/media/v1/create", { method: "POST" });
      if (res.status !== 200) throw new Error(`create ${res.status}`);
      return (JSON.parse(res.body.toString()) as { content_uri: string }).content_uri.slice(6);
    },
    async (mxcPath) => {
      const res = await call(b, `/_matrix/client/v1/media/download/${mxcPath}?timeout_ms=20000`);
      if (res.status !== 200) throw new Error(`waiting download ${res.status}`);
    },
    async (mxcPath, body) => {
      const res = await call(a, `/_matrix/media/v3/upload/${mxcPath}`, {
        method: "PUT",
        body,
        headers: { "content-type": "application/octet-stream" },
      });
      if (res.status !== 200) throw new Error(`put ${res.status}`);
    },
  );
}

/** Two repositories on one PostgreSQL database and fs root, as two processes would be. */
async function inProcess(coordinators: [Coordinator, Coordinator], pollMs?: number) {
  const pools = coordinators.map(() => new pg.Pool({ connectionString: db.url, max: 4 }));
  const repos: MediaRepository[] = coordinators.map((coordinator, i) =>
    createMediaRepository({
      serverName: SERVER,
      ids: createMediaIdGenerator({ machineId: 50 + i }),
      datastore: fsDatastore({ root: path.join(dir.path, "media"), fsync: false }),
      metadata: postgresMetadataStore({ pool: pools[i]! }),
      coordinator,
      limits: pollMs === undefined ? {} : { pendingPollMs: pollMs },
    }),
  );
  const [a, b] = repos as [MediaRepository, MediaRepository];
  const split = (mxcPath: string) => mxcPath.split("/") as [string, string];
  try {
    return await wakeRounds(
      async () => (await a.createPending(USER)).mxc.slice(6),
      (mxcPath) => b.lookup(...split(mxcPath), { timeoutMs: 20_000 }),
      async (mxcPath, body) => {
        await a.uploadPending(...split(mxcPath), body, { uploader: USER });
      },
    );
  } finally {
    await Promise.all(repos.map((r) => r.close()));
    await Promise.all(coordinators.map((c) => c.close()));
    await Promise.all(pools.map((p) => p.end()));
  }
}

async function wakeUps(): Promise<void> {
  const [a, b] = running.filter((p) => !p.exited()) as [ServerProcess, ServerProcess];
  await overHttp(a.url, b.url).then(() => undefined); // warm up both processes
  const http = await overHttp(a.url, b.url);
  const namespace = `bench:${randomUUID()}`;
  const shared = [
    redisCoordinator({ url: redis.url, namespace }),
    redisCoordinator({ url: redis.url, namespace }),
  ] as const;
  await Promise.all(shared.map((c) => c.connect()));
  const pubsub = await inProcess([...shared]);
  const polled = await inProcess([memoryCoordinator(), memoryCoordinator()], BASELINE_POLL_MS);
  const rows = [
    ["2 CLI processes over HTTP, Redis pub/sub", http],
    ["2 repositories, Redis pub/sub", pubsub],
  ] as const;
  for (const [label, values] of rows) {
    for (const p of [50, 99]) {
      report({
        name: `pending upload wake-up p${p}, ${label}`,
        value: percentile(values, p),
        baseline: percentile(polled, p),
        baselineName: `poll every ${BASELINE_POLL_MS} ms (no shared coord.)`,
        unit: "ms",
        lowerIsBetter: true,
        ...(p === 50 ? { target: 20 } : {}),
        note: `${WAKE_ROUNDS} rounds, from the PUT's response to the waiting reader's`,
      });
    }
  }
}

try {
  await throughput();
  await takeover();
  await wakeUps();
} finally {
  await Promise.all(running.map((p) => p.stop()));
  await db.drop();
  await redis.close();
  await dir.cleanup();
}
finish();
