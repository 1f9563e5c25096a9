// Cache benchmark: GET/SET through redisRingCache (3 shards) against raw ioredis on one
// shard, same run, same machine; ring lookup cost; time from shard failure to breaker open.
// Run: node --expose-gc --import tsx bench/cache.bench.ts
import { Redis } from "ioredis";
import { HashRing, redisRingCache, type RedisRingCache } from "../src/cache/index.js";
import { startRedisShards, type RedisProcess } from "../test/harness/redis.js";
import { finish, percentile, report } from "./lib.js";

const KiB = 1024;
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Result {
  opsPerSec: number;
  p50: number;
  p99: number;
  /** Process CPU (user + system) per operation, µs: the client's own cost, less noisy than time. */
  cpuUs: number;
}

/** Runs `op` with `inFlight` concurrent callers for `ms`; returns throughput and latency. */
async function measure(
  op: (i: number) => Promise<unknown>,
  inFlight: number,
  ms: number,
): Promise<Result> {
  const latencies: number[] = [];
  let n = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await op(n++);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return {
    cpuUs: (used.user + used.system) / Math.max(1, latencies.length),
    opsPerSec: (latencies.length * 1000) / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function main(): Promise<void> {
  const servers = await startRedisShards(3);
  const raw = new Redis(servers[0]!.port, "127.0.0.1");
  raw.on("error", () => undefined);
  const ring = redisRingCache({ shards: servers.map((s) => s.url) });
  // Same client code on one shard: isolates the ring's own overhead from the cost of three
  // redis-server processes sharing two cores.
  const ring1 = redisRingCache({ shards: [servers[0]!.url], namespace: "one" });
  await ring.connect();
  await ring1.connect();
  try {
    for (const [label, size, keyCount, ms] of [
      ["1 KiB", KiB, 1000, 1200],
      ["1 MiB", MiB, 64, 1600],
    ] as const) {
      const value = Buffer.alloc(size, 0x61);
      const keys = Array.from({ length: keyCount }, (_, i) => `bench-${label}-${i}`);
      for (const key of keys) {
        await raw.set(`raw:${key}`, value);
        await ring.set(key, value);
        await ring1.set(key, value);
      }
      for (const inFlight of [1, 64]) {
        for (const op of ["GET", "SET"] as const) {
          let hits = 0;
          let gets = 0;
          const ringOp = (cache: RedisRingCache) =>
            op === "GET"
              ? async (i: number) => {
                  gets++;
                  if ((await cache.get(keys[i % keyCount]!)) !== undefined) hits++;
                }
              : (i: number) => cache.set(keys[i % keyCount]!, value);
          const rawOp =
            op === "GET"
              ? (i: number) => raw.getBuffer(`raw:${keys[i % keyCount]!}`)
              : (i: number) => raw.set(`raw:${keys[i % keyCount]!}`, value);
          // Interleaved rounds, best of three for each side, to damp noise on a shared machine.
          const best: Record<"raw" | "ring" | "ring1", Result | undefined> = {
            raw: undefined,
            ring: undefined,
            ring1: undefined,
          };
          for (let round = 0; round < 3; round++) {
            const contenders = [
              ["raw", rawOp],
              ["ring", ringOp(ring)],
              ["ring1", ringOp(ring1)],
            ] as const;
            // Rotated each round so no contender always runs first (or right after a GC-heavy one).
            for (let c = 0; c < contenders.length; c++) {
              const [which, run] = contenders[(c + round) % contenders.length]!;
              globalThis.gc?.();
              const result = await measure(run, inFlight, ms / 3);
              if (!best[which] || result.opsPerSec > best[which].opsPerSec) best[which] = result;
            }
          }
          const lat = (r: Result) =>
            `${r.p50.toFixed(2)}/${r.p99.toFixed(2)} ms, ${r.cpuUs.toFixed(0)} µs CPU/op`;
          report({
            name: `${op} ${label}, ${inFlight} in flight (ring, 3 shards)`,
            value: best.ring!.opsPerSec,
            baseline: best.raw!.opsPerSec,
            baselineName: "raw ioredis, 1 shard",
            unit: "ops/s",
            target: 0.9,
            note:
              `p50/p99 ring ${lat(best.ring!)}, raw ${lat(best.raw!)}` +
              (op === "GET" ? `; hit ratio ${((hits / Math.max(1, gets)) * 100).toFixed(1)}%` : ""),
          });
          report({
            name: `${op} ${label}, ${inFlight} in flight (ring, 1 shard)`,
            value: best.ring1!.opsPerSec,
            baseline: best.raw!.opsPerSec,
            baselineName: "raw ioredis, 1 shard",
            unit: "ops/s",
            target: 0.9,
            note: `p50/p99 ${lat(best.ring1!)}`,
          });
        }
      }
    }

    // Ring lookup: rendezvous over 3 shards vs hashing alone is not a fair baseline; report
    // against an md5-based lookup (what a naive implementation would use).
    const hashRing = new HashRing(servers.map((s) => `redis://127.0.0.1:${s.port}`));
    const lookupKeys = Array.from(
      { length: 100_000 },
      (_, i) => `remote:matrix.org/${i.toString(36)}AbCdEfGhIjKlMnOp`,
    );
    let sink = 0;
    for (const key of lookupKeys) sink += hashRing.indexFor(key);
    let t0 = performance.now();
    for (let r = 0; r < 10; r++) for (const key of lookupKeys) sink += hashRing.indexFor(key);
    const lookupNs = ((performance.now() - t0) * 1e6) / (lookupKeys.length * 10);
    const { createHash } = await import("node:crypto");
    t0 = performance.now();
    for (const key of lookupKeys)
      sink += createHash("md5").update(key).digest().readUInt32BE(0) % 3;
    const md5Ns = ((performance.now() - t0) * 1e6) / lookupKeys.length;
    report({
      name: "ring lookup (3 shards)",
      value: lookupNs,
      baseline: md5Ns,
      baselineName: "md5 mod N",
      unit: "ns",
      lowerIsBetter: true,
      note: `checksum ${sink % 7}`,
    });

    // Time from shard failure to breaker open, with traffic on the ring.
    for (const failure of ["kill -9", "SIGSTOP"] as const) {
      const victim: RedisProcess = failure === "kill -9" ? servers[1]! : servers[2]!;
      const name = `redis://127.0.0.1:${victim.port}`;
      const owned = Array.from({ length: 2000 }, (_, i) => `trip-${i}`).filter(
        (k) => ring.ring.shardFor(k) === name,
      );
      let running = true;
      const traffic = Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = w; running; i += 8) {
            await ring.get(owned[i % owned.length]!);
            await sleep(1);
          }
        }),
      );
      await sleep(100);
      const start = performance.now();
      if (failure === "kill -9") await victim.kill();
      else victim.stop();
      while (ring.status().find((s) => s.name === name)!.state !== "down") await sleep(1);
      const tripMs = performance.now() - start;
      running = false;
      await traffic;
      report({
        name: `shard ${failure} → breaker open`,
        value: tripMs,
        unit: "ms",
        note: `commandTimeoutMs ${250}, failureThreshold 3, 8 callers`,
      });
      if (failure === "SIGSTOP") victim.cont();
    }
  } finally {
    await ring1.close();
    await closeAll(ring, raw, servers);
  }
  finish();
}

async function closeAll(ring: RedisRingCache, raw: Redis, servers: RedisProcess[]): Promise<void> {
  await ring.close();
  raw.disconnect();
  await Promise.all(servers.map((s) => s.close()));
}

await main();
