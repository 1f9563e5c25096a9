// The Coordinator conformance suite: two instances of a driver, standing for two processes,
// must agree on locks and hear each other's wake-ups. Every driver of this package runs it,
// and third-party drivers can too.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeEnvelope } from "../coordination/envelope.js";
import type { CoordinationLock, Coordinator } from "../coordination/types.js";
import { eventually } from "./eventually.js";

/** The cases of {@link describeCoordinator}, by name (for `skip`). */
export type CoordinatorCaseName =
  | "exclusive"
  | "generation grows"
  | "release frees"
  | "held past ttl"
  | "expiry after holder death"
  | "close releases"
  | "wake across instances"
  | "wait timeout"
  | "wait abort"
  | "notify without waiters"
  | "unknown envelope ignored";

/** What the factory of {@link describeCoordinator} returns, fresh for every case. */
export interface CoordinatorFixture {
  /** One coordinator, as one process sees it. */
  a: Coordinator;
  /** Another coordinator on the same backend, as a second process (may be `a` itself for a one-process driver). */
  b: Coordinator;
  /** Closes both and anything else the factory made. */
  cleanup: () => Promise<void>;
  /**
   * Makes `a` behave like a process that died: it stops renewing and never releases (cut its
   * connection to the backend). Needed by "expiry after holder death".
   */
  killA?: () => Promise<void>;
  /** Puts a raw message on the wire `b` listens to. Needed by "unknown envelope ignored". */
  publishRaw?: (topic: string, payload: string) => Promise<void>;
}

/** Options of {@link describeCoordinator}. */
export interface DescribeCoordinatorOptions {
  /** Cases to skip, each with the reason printed in the report. */
  skip?: Partial<Record<CoordinatorCaseName, string>>;
  /** TTL of the locks the cases take (ms); TTL cases wait a few times as long. @defaultValue 1000 */
  ttlMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Suite {
  readonly test: (
    caseName: CoordinatorCaseName,
    fn: (f: CoordinatorFixture, id: (label: string) => string) => Promise<void>,
  ) => void;
  readonly ttlMs: number;
}

function lockCases({ test, ttlMs }: Suite): void {
  test("exclusive", async ({ a, b }, id) => {
    const lock = await a.tryLock(id("x"), ttlMs);
    assert.ok(lock, "a free name is taken");
    assert.equal(lock.name, id("x"));
    assert.equal(await b.tryLock(id("x"), ttlMs), undefined, "b is refused while a holds it");
    assert.equal(await a.tryLock(id("x"), ttlMs), undefined, "a is refused a second time");
    assert.ok(await b.tryLock(id("y"), ttlMs), "another name is independent");
    await lock.release();
  });

  test("generation grows", async ({ a, b }, id) => {
    const first = await a.tryLock(id("g"), ttlMs);
    assert.ok(first && Number.isSafeInteger(first.generation) && first.generation > 0);
    await first.release();
    const second = await b.tryLock(id("g"), ttlMs);
    assert.ok(second, "free again after release");
    assert.ok(second.generation > first.generation, `${second.generation} > ${first.generation}`);
    await second.release();
    const third = await a.tryLock(id("g"), ttlMs);
    assert.ok(third && third.generation > second.generation);
    await third.release();
  });

  test("release frees", async ({ a, b }, id) => {
    const lock = await a.tryLock(id("r"), ttlMs);
    assert.ok(lock);
    await lock.release();
    await lock.release(); // twice is fine
    const other = await b.tryLock(id("r"), ttlMs);
    assert.ok(other, "b takes it at once after a released it");
    assert.equal(other.signal.aborted, false);
    await lock.release(); // a stale release must not free b's lock
    assert.equal(await a.tryLock(id("r"), ttlMs), undefined, "b still holds it");
    await other.release();
  });

  test("held past ttl", async ({ a, b }, id) => {
    const lock = await a.tryLock(id("h"), ttlMs);
    assert.ok(lock);
    await sleep(ttlMs * 3);
    assert.equal(lock.signal.aborted, false, "a live holder keeps its lock (renewed)");
    assert.equal(await b.tryLock(id("h"), ttlMs), undefined, "b is still refused");
    await lock.release();
  });

  test("expiry after holder death", async (f, id) => {
    assert.ok(f.killA, "the fixture needs killA for this case (or skip it with a reason)");
    const lock = await f.a.tryLock(id("d"), ttlMs);
    assert.ok(lock);
    await f.killA();
    const taken: CoordinationLock = await eventually(
      "b takes the lock of a dead holder",
      ttlMs * 5 + 5_000,
      () => f.b.tryLock(id("d"), ttlMs),
    );
    assert.ok(taken.generation > lock.generation, "a higher generation fences the dead holder");
    assert.equal(lock.signal.aborted, true, "the dead holder's signal aborted before b got it");
    await taken.release();
  });

  test("close releases", async ({ a, b }, id) => {
    const lock = await a.tryLock(id("c"), ttlMs);
    assert.ok(lock);
    await a.close();
    const other = await b.tryLock(id("c"), ttlMs);
    assert.ok(other, "a closed coordinator released its locks");
    await other.release();
  });
}

function wakeCases({ test }: Suite): void {
  test("wake across instances", async ({ a, b }, id) => {
    let woken = false;
    const start = performance.now();
    const waiting = b.wait(id("w"), 20_000).then(() => (woken = true));
    // A wake-up is a hint: one sent before b listens may be lost, so keep sending.
    for (let i = 0; i < 100 && !woken; i++) {
      await a.notify(id("w"));
      await sleep(100);
    }
    await waiting;
    assert.ok(performance.now() - start < 15_000, "woken by the notify, not by the timeout");
  });

  test("wait timeout", async ({ a }, id) => {
    const start = performance.now();
    await a.wait(id("t"), 200);
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 150, `resolved after ${elapsed.toFixed(0)} ms, before its timeout`);
    assert.ok(elapsed < 10_000);
  });

  test("wait abort", async ({ a }, id) => {
    const controller = new AbortController();
    const waiting = a.wait(id("a"), 20_000, controller.signal);
    controller.abort(new Error("stop waiting"));
    await assert.rejects(waiting, /stop waiting/);
    await assert.rejects(a.wait(id("a"), 20_000, controller.signal), /stop waiting/);
  });

  test("notify without waiters", async ({ a }, id) => {
    assert.equal(await a.notify(id("n")), undefined);
    const start = performance.now();
    await a.wait(id("n"), 200);
    assert.ok(performance.now() - start >= 150, "an earlier notify does not wake a later wait");
  });

  test("unknown envelope ignored", async (f, id) => {
    assert.ok(f.publishRaw, "the fixture needs publishRaw for this case (or skip it)");
    const topic = id("e");
    const start = performance.now();
    const waiting = f.b.wait(topic, 1_000);
    await sleep(100);
    for (const payload of [
      JSON.stringify({ v: 2, type: "wake", topic }),
      JSON.stringify({ v: 1, type: "shout", topic }),
      "not json",
      "[]",
    ])
      await f.publishRaw(topic, payload);
    await waiting;
    assert.ok(performance.now() - start >= 900, "no unknown message woke the waiter");
    // The same wire does carry a real envelope to b.
    let woken = false;
    const real = f.b.wait(topic, 20_000).then(() => (woken = true));
    for (let i = 0; i < 100 && !woken; i++) {
      await f.publishRaw(topic, encodeEnvelope(topic));
      await sleep(100);
    }
    await real;
    assert.equal(woken, true);
  });
}

/**
 * Registers a `node:test` suite checking that a {@link Coordinator} driver is correct when
 * two instances (two processes) share a backend: exclusive locks, growing generations,
 * release, renewal past the TTL, expiry after the holder dies (its `signal` aborted before
 * anyone else gets the lock), wake-ups across instances, wait deadlines and aborts, and
 * unknown envelope versions ignored. `factory()` runs for every case.
 *
 * @example
 * ```ts
 * import { describeCoordinator } from "matrix-media-kit/testing";
 * import { memoryCoordinator } from "matrix-media-kit/coordination";
 *
 * describeCoordinator("memoryCoordinator", async () => {
 *   const a = memoryCoordinator();
 *   return { a, b: a, cleanup: () => a.close() };
 * }, {
 *   skip: {
 *     "expiry after holder death": "one process: a holder cannot die without its coordinator",
 *     "close releases": "a and b are one coordinator",
 *     "unknown envelope ignored": "no wire format",
 *   },
 * });
 * ```
 */
export function describeCoordinator(
  name: string,
  factory: () => Promise<CoordinatorFixture>,
  options: DescribeCoordinatorOptions = {},
): void {
  let run = 0;
  const suite: Suite = {
    ttlMs: options.ttlMs ?? 1000,
    test: (caseName, fn) => {
      const reason = options.skip?.[caseName];
      if (reason !== undefined) {
        it(caseName, { skip: reason }, () => undefined);
        return;
      }
      it(caseName, async () => {
        const prefix = `conformance:${process.pid}:${Date.now()}:${++run}`;
        const fixture = await factory();
        try {
          await fn(fixture, (label) => `${prefix}:${label}`);
        } finally {
          await fixture.cleanup();
        }
      });
    },
  };
  describe(`Coordinator conformance: ${name}`, () => {
    lockCases(suite);
    wakeCases(suite);
  });
}
