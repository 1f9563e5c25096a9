// Shard failure under load, against real redis-server processes: kill -9 (connection reset)
// and SIGSTOP (frozen, TCP still open). Bounds are generous on purpose (a loaded 2-core
// machine), but each one would fail for the behaviour the issue describes as broken.
import assert from "node:assert/strict";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import { Redis } from "ioredis";
import { redisRingCache, type CacheEvent, type RedisRingCache } from "../../src/cache/index.js";
import { startRedisShards, type RedisProcess } from "../harness/redis.js";

const TIMEOUT = 250;
const SLACK = 150;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, ms = 8_000): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
  return performance.now() - start;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Load {
  stop(): Promise<void>;
  errors: unknown[];
  /** Latency of every get routed to the victim, with whether it hit. */
  victimGets: Array<{ ms: number; hit: boolean }>;
  ops: number;
}

/** Concurrent get/set traffic over `keys` until stopped; counts anything that rejects. */
function startLoad(
  ring: RedisRingCache,
  keys: string[],
  isVictim: (key: string) => boolean,
  workers = 16,
): Load {
  let running = true;
  const load: Load = { errors: [], victimGets: [], ops: 0, stop: async () => undefined };
  const worker = async (w: number) => {
    let i = w;
    while (running) {
      const key = keys[(i = (i * 7 + 13) % keys.length)]!;
      try {
        if (i % 4 === 0) {
          await ring.set(key, Buffer.from(`value-${key}`));
        } else {
          const start = performance.now();
          const value = await ring.get(key);
          if (isVictim(key))
            load.victimGets.push({ ms: performance.now() - start, hit: value !== undefined });
        }
        load.ops++;
      } catch (error) {
        load.errors.push(error);
      }
      if (load.ops % 64 === 0) await sleep(0);
    }
  };
  const all = Array.from({ length: workers }, (_, w) => worker(w + 1));
  load.stop = async () => {
    running = false;
    await Promise.all(all);
  };
  return load;
}

describe("redisRingCache under shard failure", () => {
  let servers: RedisProcess[];
  let ring: RedisRingCache;
  let events: CacheEvent[];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const raws: Redis[] = [];
  const rawFor = (server: RedisProcess) => {
    const client = new Redis(server.port, "127.0.0.1", { maxRetriesPerRequest: 1 });
    client.on("error", () => undefined);
    raws.push(client);
    return client;
  };

  beforeEach(async () => {
    servers = await startRedisShards(3);
    events = [];
    ring = redisRingCache({
      shards: servers.map((s) => s.url),
      commandTimeoutMs: TIMEOUT,
      probeIntervalMs: 100,
      failureThreshold: 3,
      metrics: (e) => events.push(e),
    });
    await ring.connect();
  });
  afterEach(async () => {
    await ring.close();
    for (const client of raws.splice(0)) client.disconnect();
    await Promise.all(servers.map((s) => s.close()));
  });
  after(() => {
    process.off("unhandledRejection", onUnhandled);
    assert.deepEqual(unhandled, [], "no unhandled rejections");
  });

  const nameOf = (server: RedisProcess) => `redis://127.0.0.1:${server.port}`;
  const stateOf = (server: RedisProcess) =>
    ring.status().find((s) => s.name === nameOf(server))!.state;
  const keys = Array.from({ length: 600 }, (_, i) => `load-${i}`);

  it("kill -9 one shard under load: no errors, misses within the timeout, < 1 ms after the breaker trips, re-added after restart", async () => {
    const victim = servers[1]!;
    const owned = keys.filter((k) => ring.ring.shardFor(k) === nameOf(victim));
    assert.ok(owned.length > 100);
    for (const key of keys) await ring.set(key, Buffer.from(`value-${key}`));

    const load = startLoad(ring, keys, (k) => owned.includes(k));
    await sleep(200);
    const killedAt = load.victimGets.length;
    await victim.kill();
    const tripMs = await until("breaker open", () => stateOf(victim) === "down");
    await sleep(300);
    await load.stop();

    assert.deepEqual(load.errors, [], "no error reaches a caller");
    const afterKill = load.victimGets.slice(killedAt);
    assert.ok(afterKill.length > 0);
    const slowest = Math.max(...afterKill.map((g) => g.ms));
    assert.ok(
      slowest <= TIMEOUT + SLACK,
      `slowest get on the dead shard took ${slowest.toFixed(1)} ms`,
    );
    assert.ok(tripMs <= TIMEOUT + SLACK, `breaker opened ${tripMs.toFixed(1)} ms after the kill`);
    assert.ok(events.some((e) => e.type === "shard-down" && e.shard === nameOf(victim)));

    const costs: number[] = [];
    for (let i = 0; i < 500; i++) {
      const start = performance.now();
      assert.equal(await ring.get(owned[i % owned.length]!), undefined);
      costs.push(performance.now() - start);
    }
    assert.ok(median(costs) < 1, `median get on an open breaker: ${median(costs).toFixed(3)} ms`);

    // Other shards keep serving.
    const healthy = keys.find((k) => ring.ring.shardFor(k) === nameOf(servers[0]!))!;
    assert.equal((await ring.get(healthy))?.toString(), `value-${healthy}`);

    await victim.restart();
    await until("shard re-added", () => stateOf(victim) === "up");
    assert.ok(events.some((e) => e.type === "shard-up" && e.shard === nameOf(victim)));
    await ring.set(owned[0]!, Buffer.from("after restart"));
    assert.equal((await ring.get(owned[0]!))?.toString(), "after restart");
    assert.equal(
      await rawFor(victim).get(`mmk:v1:${owned[0]!}`),
      "after restart",
      "the restarted shard is used again",
    );
  });

  it("SIGSTOP one shard under load: same bounds; after SIGCONT no late write lands and a key deleted meanwhile stays deleted", async () => {
    const victim = servers[2]!;
    const owned = keys.filter((k) => ring.ring.shardFor(k) === nameOf(victim));
    for (const key of keys) await ring.set(key, Buffer.from(`value-${key}`));
    const deletedWhileDown = owned[0]!;
    const lateWrite = owned[1]!;

    const load = startLoad(
      ring,
      keys.filter((k) => k !== deletedWhileDown && k !== lateWrite && k !== owned[4]),
      (k) => owned.includes(k),
    );
    await sleep(200);
    const frozenAt = load.victimGets.length;
    victim.stop();
    const frozenTime = performance.now();
    // A write the frozen server will only read after SIGCONT: it must never land.
    const lateStart = performance.now();
    const lateLarge = owned[4]!;
    await Promise.all([
      ring.set(lateWrite, Buffer.from("late")),
      // A large value too (its bytes may still be arriving when the server freezes).
      ring.set(lateLarge, Buffer.alloc(100 * 1024, 0x6c)),
    ]);
    const lateMs = performance.now() - lateStart;
    const tripMs = await until("breaker open", () => stateOf(victim) === "down");
    await sleep(300);
    await load.stop();

    assert.deepEqual(load.errors, []);
    assert.ok(lateMs <= TIMEOUT + SLACK, `a set on the frozen shard took ${lateMs.toFixed(1)} ms`);
    const afterFreeze = load.victimGets.slice(frozenAt);
    const slowest = Math.max(...afterFreeze.map((g) => g.ms));
    assert.ok(
      slowest <= TIMEOUT + SLACK,
      `slowest get on the frozen shard took ${slowest.toFixed(1)} ms`,
    );
    assert.ok(
      tripMs <= TIMEOUT + SLACK + 100,
      `breaker opened ${tripMs.toFixed(1)} ms after SIGSTOP`,
    );

    const costs: number[] = [];
    for (let i = 0; i < 500; i++) {
      const start = performance.now();
      assert.equal(await ring.get(owned[2 + (i % (owned.length - 2))]!), undefined);
      costs.push(performance.now() - start);
    }
    assert.ok(median(costs) < 1, `median get on an open breaker: ${median(costs).toFixed(3)} ms`);

    // Deleted while the shard cannot hear it: remembered and applied before it serves again.
    await ring.delete(deletedWhileDown);
    assert.equal(ring.status().find((s) => s.name === nameOf(victim))!.pendingDeletes, 1);

    // Stay frozen well past the late write's deadline (2 × timeout), then thaw.
    await sleep(Math.max(0, 2 * TIMEOUT + 500 - (performance.now() - frozenTime)));
    victim.cont();
    await until("shard re-added", () => stateOf(victim) === "up");
    const raw = rawFor(victim);
    // The late writes reached the server after their deadline: they expire as they land
    // (Redis deletes a key SET with a PXAT in the past), so what is left is the value from
    // before the freeze or nothing — a miss — never the late bytes.
    for (const [key, late] of [
      [lateWrite, "late"],
      [lateLarge, "l".repeat(100 * 1024)],
    ] as const) {
      const current = await raw.get(`mmk:v1:${key}`);
      assert.notEqual(current, late, "a timed-out write did not land late");
      assert.ok(current === null || current === `value-${key}`, `unexpected value for ${key}`);
    }
    assert.equal(await raw.get(`mmk:v1:${deletedWhileDown}`), null);
    assert.equal(
      await ring.get(deletedWhileDown),
      undefined,
      "a key deleted while its shard was down is not served",
    );
    assert.equal(ring.status().find((s) => s.name === nameOf(victim))!.pendingDeletes, 0);
    assert.equal(
      (await ring.get(owned[3]!))?.toString(),
      `value-${owned[3]!}`,
      "the shard serves again",
    );
  });

  it("sheds commands to a shard that is behind its deadline, and opens the breaker when it is stuck", async () => {
    const victim = servers[1]!;
    const lone = redisRingCache({
      shards: [victim.url],
      commandTimeoutMs: TIMEOUT,
      failureThreshold: 1_000, // counting alone would never open the breaker here
      probeIntervalMs: 60_000,
    });
    try {
      await lone.connect();
      await lone.set("k", Buffer.from("v"));
      victim.stop();
      const t0 = performance.now();
      assert.equal(await lone.get("k"), undefined);
      const first = performance.now() - t0;
      assert.ok(
        first >= TIMEOUT - 5 && first <= TIMEOUT + SLACK,
        `first get took ${first.toFixed(1)} ms`,
      );
      const t1 = performance.now();
      assert.equal(await lone.get("k"), undefined);
      const second = performance.now() - t1;
      assert.ok(
        second < 50,
        `a get behind a late command is shed at once (${second.toFixed(1)} ms)`,
      );
      assert.equal(lone.status()[0]!.state, "down", "no reply for a whole timeout: breaker open");
    } finally {
      victim.cont();
      await lone.close();
    }
  });

  it("bounded writes: a busy queue drops writes instead of holding callers", async () => {
    const victim = servers[0]!;
    const skipped: CacheEvent[] = [];
    const small = redisRingCache({
      shards: [victim.url],
      commandTimeoutMs: TIMEOUT,
      failureThreshold: 1_000,
      maxConcurrentWrites: 2,
      maxQueuedWrites: 2,
      metrics: (e) => e.type === "skip" && skipped.push(e),
    });
    try {
      await small.connect();
      victim.stop();
      const start = performance.now();
      const durations = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          await small.set(`queued-${i}`, Buffer.from("x"));
          return performance.now() - start;
        }),
      );
      const slowest = Math.max(...durations);
      assert.ok(slowest <= 2 * TIMEOUT + SLACK, `slowest set took ${slowest.toFixed(1)} ms`);
      assert.ok(skipped.length >= 4, `${skipped.length} writes were dropped`);
    } finally {
      victim.cont();
      await small.close();
    }
  });

  it("rejoin after too many missed deletes purges the shard's namespace, and only it", async () => {
    await ring.close();
    ring = redisRingCache({
      shards: servers.map((s) => s.url),
      commandTimeoutMs: TIMEOUT,
      probeIntervalMs: 100,
      maxPendingDeletes: 2,
      metrics: (e) => events.push(e),
    });
    const victim = servers[0]!;
    const owned = keys.filter((k) => ring.ring.shardFor(k) === nameOf(victim)).slice(0, 10);
    for (const key of owned) await ring.set(key, Buffer.from("v"));
    await rawFor(victim).set("someone-else:key", "kept");
    victim.stop();
    for (const key of owned.slice(0, 3)) await ring.get(key);
    await until("breaker open", () => stateOf(victim) === "down");
    for (const key of owned.slice(0, 3)) await ring.delete(key);
    assert.equal(ring.status().find((s) => s.name === nameOf(victim))!.purgeOnRejoin, true);
    victim.cont();
    await until("shard re-added", () => stateOf(victim) === "up");
    assert.ok(events.some((e) => e.type === "shard-up" && e.purged === "namespace"));
    for (const key of owned) assert.equal(await ring.get(key), undefined);
    assert.equal(await rawFor(victim).get("someone-else:key"), "kept");
  });
});
