// redisCoordinator when Redis misbehaves, against real redis-server processes: frozen
// (SIGSTOP, connections stay open), killed, and a holder process that is SIGKILLed. Bounds
// are generous (a busy 2-core machine) but each fails for the broken behaviour.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import path from "node:path";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import { redisCoordinator, type SharedCoordinator } from "../../src/coordination/index.js";
import { eventually } from "../../src/testing/eventually.js";
import { startRedis, type RedisProcess } from "../harness/redis.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("redisCoordinator under Redis failure", () => {
  let server: RedisProcess;
  let namespace: string;
  let warnings: Array<{ message: string; details: unknown }>;
  const made: SharedCoordinator[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);

  const coordinator = (commandTimeoutMs = 100) => {
    const c = redisCoordinator({
      url: server.url,
      namespace,
      commandTimeoutMs,
      logger: { warn: (message, details) => warnings.push({ message, details }) },
    });
    made.push(c);
    return c;
  };

  beforeEach(async () => {
    server = await startRedis();
    namespace = `test:${randomUUID()}`;
    warnings = [];
  });
  afterEach(async () => {
    server.cont();
    await Promise.all(made.splice(0).map((c) => c.close()));
    await server.close();
  });
  after(() => {
    process.off("unhandledRejection", onUnhandled);
    assert.deepEqual(unhandled, [], "no unhandled rejections");
  });

  it("SIGSTOP while a lock is held: its signal aborts within the TTL; after SIGCONT another takes it with a higher generation", async () => {
    const ttlMs = 1500;
    const a = coordinator();
    const b = coordinator();
    const lock = await a.tryLock("frozen", ttlMs);
    assert.ok(lock && !lock.local);
    await sleep(ttlMs / 2); // some renewals succeed first
    server.stop();
    const frozenAt = performance.now();
    await once(lock.signal, "abort");
    const abortedAfter = performance.now() - frozenAt;
    // The last successful renewal was sent before the freeze: the TTL in Redis runs from no
    // earlier than that, so aborting within ttlMs of the freeze is before anyone could take it.
    assert.ok(abortedAfter < ttlMs, `aborted ${abortedAfter.toFixed(0)} ms after the freeze`);
    assert.match(String((lock.signal.reason as Error).message), /no successful renewal/);

    server.cont();
    const taken = await eventually(
      "b takes the lock after SIGCONT",
      ttlMs * 3 + 5_000,
      async () => {
        const l = await b.tryLock("frozen", ttlMs);
        if (l?.local) {
          await l.release();
          return undefined;
        }
        return l;
      },
    );
    assert.ok(taken.generation > lock.generation, `${taken.generation} > ${lock.generation}`);
    await lock.release();
    assert.equal(await a.tryLock("frozen", ttlMs), undefined, "a stale release freed nothing");
    await taken.release();
  });

  it("tryLock on a frozen Redis fails open quickly to a local lock, warning once per outage", async () => {
    const a = coordinator();
    await a.connect();
    server.stop();
    const start = performance.now();
    const first = await a.tryLock("outage-1", 1000);
    const second = await a.tryLock("outage-2", 1000);
    const elapsed = performance.now() - start;
    assert.ok(first?.local && second?.local, "locks held in this process");
    assert.ok(elapsed < 5_000, `two fail-open tryLocks took ${elapsed.toFixed(0)} ms`);
    assert.equal(await a.tryLock("outage-1", 1000), undefined, "this process still coalesces");
    assert.equal(warnings.length, 1, "one warning for the outage");
    await first.release();
    await second.release();

    server.cont();
    const shared = await eventually("a shared lock again", 10_000, async () => {
      const l = await a.tryLock("outage-1", 1000);
      if (l?.local) await l.release();
      return l?.local ? undefined : l;
    });
    assert.equal(shared.local, false);
    await shared.release();
  });

  it("tryLock on a killed Redis fails open, then uses Redis again after a restart", async () => {
    const a = coordinator();
    assert.equal((await a.tryLock("k", 1000))?.local, false);
    await server.kill();
    const start = performance.now();
    const during = await a.tryLock("k2", 1000);
    assert.ok(during?.local, "failed open");
    assert.ok(performance.now() - start < 5_000);
    await during.release();
    await server.restart();
    const back = await eventually("a shared lock after restart", 10_000, async () => {
      const l = await a.tryLock("k3", 1000);
      if (l?.local) await l.release();
      return l?.local ? undefined : l;
    });
    assert.ok(back.generation > 1_000_000_000_000, "generations stay above the server clock floor");
    await back.release();
  });

  it("wait on a frozen Redis returns at its timeout, and notify still wakes this process", async () => {
    const a = coordinator();
    await a.connect();
    server.stop();
    const start = performance.now();
    await a.wait("topic", 300);
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 250 && elapsed < 5_000, `wait returned after ${elapsed.toFixed(0)} ms`);

    const woken = a.wait("topic", 20_000);
    const notifyStart = performance.now();
    await a.notify("topic");
    await woken;
    assert.ok(performance.now() - notifyStart < 5_000, "notify is bounded by its command timeout");
  });

  it("a process that dies holding a lock: another takes it within about one TTL", async () => {
    const ttlMs = 1000;
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(import.meta.dirname, "fixtures", "hold-lock.ts"),
        server.url,
        namespace,
        "dead-holder",
        String(ttlMs),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      const [line] = (await once(child.stdout, "data")) as [Buffer];
      const held = JSON.parse(line.toString()) as { generation?: number; error?: string };
      assert.ok(held.generation, `the child holds the lock: ${line.toString()}`);
      const b = coordinator();
      await sleep(ttlMs * 2);
      assert.equal(await b.tryLock("dead-holder", ttlMs), undefined, "renewed while alive");
      child.kill("SIGKILL");
      const killedAt = performance.now();
      const taken = await eventually("taken after the holder died", ttlMs + 5_000, () =>
        b.tryLock("dead-holder", ttlMs),
      );
      assert.ok(performance.now() - killedAt < ttlMs + 5_000);
      assert.equal(taken.local, false);
      assert.ok(taken.generation > held.generation);
      await taken.release();
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }
    }
  });
});
