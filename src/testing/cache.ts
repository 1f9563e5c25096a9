// The MediaCache conformance suite: every cache of this package runs it, and third-party
// caches can too.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MediaCache } from "../cache/types.js";

/** The cases of {@link describeCache}, by name (for `skip`). */
export type CacheCaseName =
  | "miss"
  | "round trip"
  | "binary safe"
  | "empty value"
  | "overwrite"
  | "delete"
  | "delete missing"
  | "ttl"
  | "getOrLoad caches"
  | "getOrLoad single-flight"
  | "getOrLoad errors"
  | "getOrLoad undefined"
  | "keys are independent"
  | "large value";

/** Options of {@link describeCache}. */
export interface DescribeCacheOptions {
  /** Cases to skip, each with the reason printed in the report. */
  skip?: Partial<Record<CacheCaseName, string>>;
  /** TTL used by the `ttl` case (ms); the case waits three times as long. @defaultValue 100 */
  ttlMs?: number;
}

/**
 * Registers a `node:test` suite checking that `factory()` returns a correct
 * {@link MediaCache}: misses, binary-safe round trips, overwrite, delete, TTL, and
 * `getOrLoad` (caching, single-flight, error propagation). The cache is created once in
 * `before` and closed in `after`; every case uses its own keys.
 *
 * @example
 * ```ts
 * import { describeCache } from "matrix-media-kit/testing";
 * import { memoryCache } from "matrix-media-kit/cache";
 *
 * describeCache("memoryCache", () => memoryCache({ maxBytes: 1 << 20 }));
 * describeCache("my cache", () => myCache(), { skip: { ttl: "entries never expire by design" } });
 * ```
 */
export function describeCache(
  name: string,
  factory: () => MediaCache | Promise<MediaCache>,
  options: DescribeCacheOptions = {},
): void {
  const ttlMs = options.ttlMs ?? 100;
  let cache: MediaCache;
  let run = 0;
  const key = (label: string) => `conformance:${process.pid}:${++run}:${label}`;
  const settle = async () => {
    await cache.flush?.();
  };
  const test = (caseName: CacheCaseName, fn: () => Promise<void>) => {
    const reason = options.skip?.[caseName];
    if (reason !== undefined) it(caseName, { skip: reason }, () => undefined);
    else it(caseName, fn);
  };

  describe(`MediaCache conformance: ${name}`, () => {
    before(async () => {
      cache = await factory();
    });
    after(async () => {
      await cache?.close?.();
    });

    test("miss", async () => {
      assert.equal(await cache.get(key("absent")), undefined);
    });

    test("round trip", async () => {
      const k = key("round");
      const value = Buffer.from("hello media");
      await cache.set(k, value);
      const got = await cache.get(k);
      assert.ok(got, "a value just set must be returned");
      assert.deepEqual(Buffer.from(got), value);
    });

    test("binary safe", async () => {
      const k = key("binary");
      const value = Buffer.alloc(512);
      for (let i = 0; i < value.length; i++) value[i] = i % 256;
      await cache.set(k, value);
      assert.deepEqual(await cache.get(k), value);
    });

    test("empty value", async () => {
      const k = key("empty");
      await cache.set(k, Buffer.alloc(0));
      const got = await cache.get(k);
      assert.ok(got !== undefined, "an empty Buffer is a value, not a miss");
      assert.equal(got.length, 0);
    });

    test("overwrite", async () => {
      const k = key("overwrite");
      await cache.set(k, Buffer.from("one"));
      await cache.set(k, Buffer.from("two"));
      assert.equal((await cache.get(k))?.toString(), "two");
    });

    test("delete", async () => {
      const k = key("delete");
      await cache.set(k, Buffer.from("x"));
      await cache.delete(k);
      assert.equal(await cache.get(k), undefined);
    });

    test("delete missing", async () => {
      await cache.delete(key("never-set"));
    });

    test("ttl", async () => {
      const k = key("ttl");
      const keep = key("no-ttl");
      await cache.set(k, Buffer.from("short"), { ttlMs });
      await cache.set(keep, Buffer.from("long"));
      assert.equal((await cache.get(k))?.toString(), "short");
      await new Promise((resolve) => setTimeout(resolve, ttlMs * 3));
      assert.equal(await cache.get(k), undefined, "expired entry must be a miss");
      assert.equal((await cache.get(keep))?.toString(), "long");
    });

    test("getOrLoad caches", async () => {
      const k = key("load");
      let calls = 0;
      const loader = async () => {
        calls++;
        return Buffer.from("loaded");
      };
      assert.equal((await cache.getOrLoad(k, loader))?.toString(), "loaded");
      await settle();
      assert.equal((await cache.getOrLoad(k, loader))?.toString(), "loaded");
      assert.equal(calls, 1, "the second getOrLoad must be served from the cache");
      assert.equal((await cache.get(k))?.toString(), "loaded");
    });

    test("getOrLoad single-flight", async () => {
      const k = key("flight");
      let calls = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const loader = async () => {
        calls++;
        await gate;
        return Buffer.from("once");
      };
      const waiters = Array.from({ length: 20 }, () => cache.getOrLoad(k, loader));
      await new Promise((resolve) => setTimeout(resolve, 20));
      release();
      const results = await Promise.all(waiters);
      assert.equal(calls, 1, "20 concurrent misses must call the loader once");
      for (const result of results) assert.equal(result?.toString(), "once");
    });

    test("getOrLoad errors", async () => {
      const k = key("error");
      let calls = 0;
      const failing = async (): Promise<Buffer> => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 10));
        throw new Error("origin down");
      };
      const results = await Promise.allSettled([
        cache.getOrLoad(k, failing),
        cache.getOrLoad(k, failing),
      ]);
      assert.equal(calls, 1);
      for (const result of results) {
        assert.equal(result.status, "rejected");
        assert.match(String(result.reason), /origin down/);
      }
      await settle();
      assert.equal(await cache.get(k), undefined, "a failed load is not cached");
      assert.equal((await cache.getOrLoad(k, async () => Buffer.from("ok")))?.toString(), "ok");
    });

    test("getOrLoad undefined", async () => {
      const k = key("undefined");
      assert.equal(await cache.getOrLoad(k, async () => undefined), undefined);
      await settle();
      assert.equal(await cache.get(k), undefined);
    });

    test("keys are independent", async () => {
      const a = key("a:b/c d");
      const b = key("a:b/c");
      const unicode = key("ключ/🖼");
      await cache.set(a, Buffer.from("A"));
      await cache.set(b, Buffer.from("B"));
      await cache.set(unicode, Buffer.from("U"));
      assert.equal((await cache.get(a))?.toString(), "A");
      assert.equal((await cache.get(b))?.toString(), "B");
      assert.equal((await cache.get(unicode))?.toString(), "U");
      await cache.delete(a);
      assert.equal((await cache.get(b))?.toString(), "B");
    });

    test("large value", async () => {
      const k = key("large");
      const value = Buffer.alloc(64 * 1024, 7);
      await cache.set(k, value);
      assert.deepEqual(await cache.get(k), value);
    });
  });
}
