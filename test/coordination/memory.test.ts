import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryCoordinator } from "../../src/coordination/index.js";
import { describeCoordinator } from "../../src/testing/index.js";

describeCoordinator(
  "memoryCoordinator",
  async () => {
    const a = memoryCoordinator();
    return { a, b: a, cleanup: () => a.close() };
  },
  {
    skip: {
      "expiry after holder death":
        "one process: a holder cannot die without the coordinator dying with it",
      "close releases": "a and b are one coordinator (no second process to take the lock)",
      "unknown envelope ignored": "wake-ups never leave the process: there is no wire format",
    },
  },
);

describe("memoryCoordinator", () => {
  it("refuses bad arguments", async () => {
    const c = memoryCoordinator();
    await assert.rejects(c.tryLock("", 1000), TypeError);
    await assert.rejects(c.tryLock("x", 10), /integer >= 30 for ttlMs/);
    await assert.rejects(c.tryLock("x", Number.NaN), RangeError);
    assert.throws(() => void c.wait("x", -1), /timeoutMs/);
    await c.close();
  });

  it("keeps no state for a name after its lock is released", async () => {
    const c = memoryCoordinator();
    const generations: number[] = [];
    for (let i = 0; i < 3; i++) {
      const lock = await c.tryLock(`name-${i}`, 1000);
      generations.push(lock!.generation);
      assert.equal(lock!.local, true);
      await lock!.release();
    }
    assert.deepEqual(generations, [1, 2, 3], "one counter for all names");
    await c.close();
  });

  it("close wakes its waiters", async () => {
    const c = memoryCoordinator();
    const start = performance.now();
    const waiting = c.wait("t", 20_000);
    await c.close();
    await waiting;
    assert.ok(performance.now() - start < 10_000);
  });
});
