import assert from "node:assert/strict";
import diagnostics_channel from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { CACHE_CHANNEL, memoryCache, type CacheEvent } from "../../src/cache/index.js";
import { describeCache } from "../../src/testing/cache.js";

describeCache("memoryCache", () => memoryCache({ maxBytes: 4 * 1024 * 1024 }));

describe("memoryCache", () => {
  it("is bounded by bytes: least recently used entries go first", async () => {
    const cache = memoryCache({ maxBytes: 10_000, maxItemBytes: 4_000 });
    for (let i = 0; i < 5; i++) await cache.set(`k${i}`, Buffer.alloc(3_000, i));
    assert.ok(cache.bytes <= 10_000, `holds ${cache.bytes} bytes`);
    assert.equal(cache.size, 3);
    assert.equal(await cache.get("k0"), undefined);
    assert.equal(await cache.get("k1"), undefined);
    assert.deepEqual(await cache.get("k4"), Buffer.alloc(3_000, 4));
  });

  it("does not cache values above maxItemBytes (default maxBytes / 8)", async () => {
    const cache = memoryCache({ maxBytes: 8_000 });
    await cache.set("small", Buffer.alloc(1_000));
    await cache.set("big", Buffer.alloc(1_001));
    assert.ok(await cache.get("small"));
    assert.equal(await cache.get("big"), undefined);
  });

  it("expires entries with the injected clock", async () => {
    let t = 1_000;
    const cache = memoryCache({ maxBytes: 1_000, defaultTtlMs: 50, now: () => t });
    await cache.set("a", Buffer.from("a"));
    await cache.set("b", Buffer.from("b"), { ttlMs: 500 });
    t += 60;
    assert.equal(await cache.get("a"), undefined);
    assert.equal((await cache.get("b"))?.toString(), "b");
    t += 500;
    assert.equal(await cache.get("b"), undefined);
  });

  it("validates options with messages naming the option", () => {
    assert.throws(
      () => memoryCache({ maxBytes: 0 }),
      /positive integer for memoryCache maxBytes but received 0/,
    );
    assert.throws(() => memoryCache({ maxBytes: 1.5 }), /memoryCache maxBytes/);
    assert.throws(
      () => memoryCache({ maxBytes: 10, maxItemBytes: 11 }),
      /maxItemBytes \(11\) must not exceed maxBytes/,
    );
    // @ts-expect-error an unbounded memory cache does not type-check
    assert.throws(() => memoryCache({}), /memoryCache maxBytes/);
    // @ts-expect-error options are required
    assert.throws(() => memoryCache(), /maxBytes/);
  });

  it("publishes hits, misses and sets on diagnostics_channel and the metrics hook", async () => {
    const hooked: CacheEvent[] = [];
    const published: CacheEvent[] = [];
    const listener = (message: unknown) => published.push(message as CacheEvent);
    diagnostics_channel.subscribe(CACHE_CHANNEL, listener);
    try {
      const cache = memoryCache({
        maxBytes: 1_000,
        name: "l1-test",
        metrics: (e) => hooked.push(e),
      });
      await cache.get("x");
      await cache.set("x", Buffer.from("abc"));
      await cache.get("x");
      assert.deepEqual(
        hooked.map((e) => e.type),
        ["miss", "set", "hit"],
      );
      assert.deepEqual(hooked[2], { type: "hit", cache: "l1-test", key: "x", bytes: 3 });
      assert.equal(published.filter((e) => e.cache === "l1-test").length, 3);
    } finally {
      diagnostics_channel.unsubscribe(CACHE_CHANNEL, listener);
    }
  });
});
