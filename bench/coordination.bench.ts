// Coordination benchmark: wake-up latency between two coordinator instances (separate
// connections, as two processes) over Redis pub/sub and PostgreSQL NOTIFY, against polling
// a metadata table every 50 ms; lock take + release per second against raw ioredis SET NX/DEL.
// Run: node --expose-gc --import tsx bench/coordination.bench.ts
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import {
  postgresCoordinator,
  redisCoordinator,
  type Coordinator,
} from "../src/coordination/index.js";
import { createTestDatabase } from "../test/harness/postgres.js";
import { startRedis } from "../test/harness/redis.js";
import { finish, percentile, report } from "./lib.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SAMPLES = 200;

/** Time from notify on `a` to the wait on `b` returning, `SAMPLES` times. */
async function wakeLatencies(a: Coordinator, b: Coordinator): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const topic = `bench:${i}`;
    const waiting = b.wait(topic, 5_000);
    await sleep(2 + (i % 7));
    const start = performance.now();
    await Promise.all([waiting, a.notify(topic)]);
    out.push(performance.now() - start);
  }
  return out;
}

/** Time from a row appearing to a poller (one query every 50 ms) seeing it. */
async function pollLatencies(
  query: (text: string, values: unknown[]) => Promise<{ rows: unknown[] }>,
): Promise<number[]> {
  await query("CREATE TABLE IF NOT EXISTS bench_done (topic text PRIMARY KEY)", []);
  const out: number[] = [];
  for (let i = 0; i < SAMPLES / 2; i++) {
    const topic = `poll:${i}`;
    let seenAt = 0;
    const poller = (async () => {
      for (;;) {
        const { rows } = await query("SELECT 1 FROM bench_done WHERE topic = $1", [topic]);
        if (rows.length > 0) return (seenAt = performance.now());
        await sleep(50);
      }
    })();
    await sleep(7 + ((i * 13) % 50));
    const start = performance.now();
    await query("INSERT INTO bench_done (topic) VALUES ($1)", [topic]);
    await poller;
    out.push(seenAt - start);
  }
  return out;
}

async function locksPerSecond(
  takeAndRelease: (name: string) => Promise<void>,
  inFlight: number,
  ms = 2_000,
) {
  let n = 0;
  const end = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      while (performance.now() < end) await takeAndRelease(`lock:${w}:${n++ % 64}`);
    }),
  );
  return (n * 1000) / (performance.now() - start);
}

const server = await startRedis();
const db = await createTestDatabase();
const namespace = `bench:${randomUUID()}`;
const a = redisCoordinator({ url: server.url, namespace });
const b = redisCoordinator({ url: server.url, namespace });
const pa = postgresCoordinator({ pool: db.pool });
const pb = postgresCoordinator({ url: db.url });
const raw = new Redis(server.url);
try {
  await Promise.all([a.connect(), b.connect(), pa.connect(), pb.connect()]);
  await wakeLatencies(a, b); // warm up
  const redisWake = await wakeLatencies(a, b);
  const pgWake = await wakeLatencies(pa, pb);
  const polled = await pollLatencies((text, values) => db.pool.query(text, values));
  const pollP50 = percentile(polled, 50);
  const pollP99 = percentile(polled, 99);
  for (const [label, values] of [
    ["Redis pub/sub", redisWake],
    ["PostgreSQL NOTIFY", pgWake],
  ] as const) {
    report({
      name: `wake-up latency p50, ${label}`,
      value: percentile(values, 50),
      baseline: pollP50,
      baselineName: "poll metadata every 50 ms",
      unit: "ms",
      lowerIsBetter: true,
    });
    report({
      name: `wake-up latency p99, ${label}`,
      value: percentile(values, 99),
      baseline: pollP99,
      baselineName: "poll metadata every 50 ms",
      unit: "ms",
      lowerIsBetter: true,
    });
  }

  const ours = async (name: string) => {
    const lock = await a.tryLock(name, 10_000);
    await lock?.release();
  };
  const rawLock = async (name: string) => {
    const key = `${namespace}:raw:${name}`;
    if ((await raw.set(key, "token", "PX", 10_000, "NX")) === "OK") await raw.del(key);
  };
  for (const inFlight of [1, 32]) {
    await locksPerSecond(ours, inFlight, 300);
    const value = await locksPerSecond(ours, inFlight);
    const baseline = await locksPerSecond(rawLock, inFlight);
    report({
      name: `Redis lock take + release, ${inFlight} in flight`,
      value,
      baseline,
      baselineName: "raw ioredis SET NX PX + DEL",
      unit: "locks/s",
      note: "ours: Lua take with generation + token-checked release",
    });
  }
} finally {
  raw.disconnect();
  await Promise.all([a.close(), b.close(), pa.close(), pb.close()]);
  await db.drop();
  await server.close();
}
finish();
