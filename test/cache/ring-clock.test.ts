// The ring's time-dependent behaviour under an injected clock (`now`) and mocked timers:
// the breaker's probe schedule, deadlines and the write queue follow the clock they are
// given, not the wall clock.
import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { redisRingCache, type ProbeStrategy } from "../../src/cache/index.js";
import { ConfigError } from "../../src/errors.js";
import { CacheTimeoutError } from "../../src/cache/redis-client.js";
import { Deadlines } from "../../src/cache/redis/deadlines.js";
import { createShards } from "../../src/cache/redis/shard.js";
import { WriteQueue } from "../../src/cache/redis/write-queue.js";
import { startRedis } from "../harness/redis.js";

/** Lets real I/O (a refused connect, a reply) run while timers stay mocked. */
async function until(what: string, check: () => boolean): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > 5_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("redisRingCache with an injected clock", () => {
  it("probes a down shard on the probeStrategy schedule, and stops once it is back", async () => {
    const server = await startRedis();
    await server.kill();
    const attempts: number[] = [];
    const probeStrategy: ProbeStrategy = (attempt, intervalMs) => {
      attempts.push(attempt);
      return intervalMs * 2 ** (attempt - 1);
    };
    let clock = 0;
    mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
    const ring = redisRingCache({
      shards: [server.url],
      probeIntervalMs: 100,
      probeStrategy,
      now: () => clock,
    });
    const advance = (ms: number) => {
      clock += ms;
      mock.timers.tick(ms);
    };
    try {
      await ring.connect();
      assert.equal(ring.status()[0]!.state, "down");
      assert.deepEqual(attempts, [1], "the first probe is scheduled when the breaker opens");
      // Probe 1 after 100 ms, probe 2 after 200 more, probe 3 after 400 more.
      for (const [delay, next] of [
        [100, 2],
        [200, 3],
        [400, 4],
      ] as const) {
        advance(delay - 1);
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(attempts.length, next - 1, `no probe before ${delay} ms`);
        advance(1);
        await until(`probe ${next - 1} to fail`, () => attempts.length === next);
      }
      assert.deepEqual(attempts, [1, 2, 3, 4]);
      await server.restart();
      advance(800);
      await until("shard re-added", () => ring.status()[0]!.state === "up");
      advance(10_000);
      assert.deepEqual(attempts, [1, 2, 3, 4], "no probe once the shard is up");
      await ring.set("k", Buffer.from("v"));
      assert.equal((await ring.get("k"))?.toString(), "v");
    } finally {
      mock.timers.reset();
      await ring.close();
      await server.close();
    }
  });

  it("validates now and probeStrategy", () => {
    assert.throws(
      () => redisRingCache({ shards: ["redis://a"], commandTimeoutMs: 0 }),
      (error: unknown) => error instanceof ConfigError && error.option === "commandTimeoutMs",
    );
    assert.throws(
      // @ts-expect-error not a function
      () => redisRingCache({ shards: ["redis://a"], probeStrategy: 5 }),
      /Expected a function for redisRingCache probeStrategy but received number/,
    );
    assert.throws(
      // @ts-expect-error not a function
      () => redisRingCache({ shards: ["redis://a"], now: "performance" }),
      /Expected a function for redisRingCache now/,
    );
  });
});

describe("ring deadlines with an injected clock", () => {
  it("a command is late only when the clock passes its deadline; its late reply clears the lag", async () => {
    const [shard] = createShards(["redis://127.0.0.1:1"], "shards");
    let clock = 0;
    const deadlines = new Deadlines(() => clock, 50);
    let reply!: (value: string) => void;
    const tracked = deadlines.track(shard!, new Promise<string>((resolve) => (reply = resolve)));
    const seen: { outcome?: unknown } = {};
    tracked.then(
      (value) => (seen.outcome = value),
      (error: unknown) => (seen.outcome = error),
    );
    await new Promise((resolve) => setTimeout(resolve, 60)); // real time passes, the clock does not
    assert.equal(seen.outcome, undefined, "not late while the ring's clock stands still");
    clock = 50;
    const start = Date.now();
    while (seen.outcome === undefined && Date.now() - start < 2_000)
      await new Promise((resolve) => setTimeout(resolve, 5));
    const late: unknown = seen.outcome;
    assert.ok(late instanceof CacheTimeoutError, String(late));
    assert.equal(shard!.lateCommands, 1);
    reply("late");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(shard!.lateCommands, 0);
    assert.equal(shard!.lastReplyAt, 50, "the reply time is read from the same clock");
  });
});

describe("ring write queue with an injected clock", () => {
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, opened };
  };

  for (const [waitedMs, runs] of [
    [250, true],
    [251, false],
  ] as const) {
    it(`a queued write that waited ${waitedMs} ms of a 250 ms limit ${runs ? "runs" : "is dropped"}`, async () => {
      let clock = 1_000;
      const queue = new WriteQueue({
        now: () => clock,
        maxWaitMs: 250,
        maxConcurrent: 1,
        maxQueued: 1,
      });
      const first = gate();
      let secondRan = false;
      const running = queue.schedule(() => first.opened);
      const queued = queue.schedule(async () => {
        secondRan = true;
      });
      assert.equal(
        queue.schedule(async () => undefined),
        undefined,
        "a full queue refuses at once",
      );
      clock += waitedMs;
      first.open();
      assert.equal(await running, true);
      assert.equal(await queued, runs);
      assert.equal(secondRan, runs);
      await queue.flush();
    });
  }
});
