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
  /**
   * TTL used by the `ttl` case (ms); the case waits three times as long. Generous, so that a
   * busy machine does not expire the entry between the write and the first read.
   * @defaultValue 1000
   */
  ttlMs?: number;
}

/** What every group of cases gets: the cache under test and helpers. */
interface Suite {
  /** The cache, created in `before`. */
  readonly cache: MediaCache;
  /** A key of its own for one case. */
  readonly key: (label: string) => string;
  /** Waits for the cache's background writes (`flush`). */
  readonly settle: () => Promise<void>;
  /** Registers a case, or its skip with the reason given in the options. */
  readonly test: (caseName: CacheCaseName, fn: () => Promise<void>) => void;
  readonly ttlMs: number;
}

/** Misses, round trips, binary and empty values, overwrites. */
function valueCases(suite: Suite): void {
  const { key, test } = suite;
  test("miss", async () => {
    assert.equal(await suite.cache.get(key("absent")), undefined);
  });

  test("round trip", async () => {
    const k = key("round");
    const value = Buffer.from("hello media");
    await suite.cache.set(k, value);
    const got = await suite.cache.get(k);
    assert.ok(got, "a value just set must be returned");
    assert.deepEqual(Buffer.from(got), value);
  });

  test("binary safe", async () => {
    const k = key("binary");
    const value = Buffer.alloc(512);
    for (let i = 0; i < value.length; i++) value[i] = i % 256;
    await suite.cache.set(k, value);
    assert.deepEqual(await suite.cache.get(k), value);
  });

  test("empty value", async () => {
    const k = key("empty");
    await suite.cache.set(k, Buffer.alloc(0));
    const got = await suite.cache.get(k);
    assert.ok(got !== undefined, "an empty Buffer is a value, not a miss");
    assert.equal(got.length, 0);
  });

  test("overwrite", async () => {
    const k = key("overwrite");
    await suite.cache.set(k, Buffer.from("one"));
    await suite.cache.set(k, Buffer.from("two"));
    assert.equal((await suite.cache.get(k))?.toString(), "two");
  });
}

/** Deleting present and absent keys. */
function deleteCases(suite: Suite): void {
  const { key, test } = suite;
  test("delete", async () => {
    const k = key("delete");
    await suite.cache.set(k, Buffer.from("x"));
    await suite.cache.delete(k);
    assert.equal(await suite.cache.get(k), undefined);
  });

  test("delete missing", async () => {
    await suite.cache.delete(key("never-set"));
  });
}

/** Entries set with a TTL expire; others stay. */
function ttlCases(suite: Suite): void {
  const { key, test, ttlMs } = suite;
  test("ttl", async () => {
    const k = key("ttl");
    const keep = key("no-ttl");
    await suite.cache.set(k, Buffer.from("short"), { ttlMs });
    await suite.cache.set(keep, Buffer.from("long"));
    assert.equal((await suite.cache.get(k))?.toString(), "short");
    await new Promise((resolve) => setTimeout(resolve, ttlMs * 3));
    assert.equal(await suite.cache.get(k), undefined, "expired entry must be a miss");
    assert.equal((await suite.cache.get(keep))?.toString(), "long");
  });
}

/** getOrLoad: caching, single flight, errors, undefined. */
function getOrLoadCases(suite: Suite): void {
  const { key, test, settle } = suite;
  test("getOrLoad caches", async () => {
    const k = key("load");
    let calls = 0;
    const loader = async () => {
      calls++;
      return Buffer.from("loaded");
    };
    assert.equal((await suite.cache.getOrLoad(k, loader))?.toString(), "loaded");
    await settle();
    assert.equal((await suite.cache.getOrLoad(k, loader))?.toString(), "loaded");
    assert.equal(calls, 1, "the second getOrLoad must be served from the cache");
    assert.equal((await suite.cache.get(k))?.toString(), "loaded");
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
    const waiters = Array.from({ length: 20 }, () => suite.cache.getOrLoad(k, loader));
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
      suite.cache.getOrLoad(k, failing),
      suite.cache.getOrLoad(k, failing),
    ]);
    assert.equal(calls, 1);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.match(String(result.reason), /origin down/);
    }
    await settle();
    assert.equal(await suite.cache.get(k), undefined, "a failed load is not cached");
    assert.equal((await suite.cache.getOrLoad(k, async () => Buffer.from("ok")))?.toString(), "ok");
  });

  test("getOrLoad undefined", async () => {
    const k = key("undefined");
    assert.equal(await suite.cache.getOrLoad(k, async () => undefined), undefined);
    await settle();
    assert.equal(await suite.cache.get(k), undefined);
  });
}

/** Keys that look alike stay apart; large values. */
function keyCases(suite: Suite): void {
  const { key, test } = suite;
  test("keys are independent", async () => {
    const a = key("a:b/c d");
    const b = key("a:b/c");
    const unicode = key("ключ/🖼");
    await suite.cache.set(a, Buffer.from("A"));
    await suite.cache.set(b, Buffer.from("B"));
    await suite.cache.set(unicode, Buffer.from("U"));
    assert.equal((await suite.cache.get(a))?.toString(), "A");
    assert.equal((await suite.cache.get(b))?.toString(), "B");
    assert.equal((await suite.cache.get(unicode))?.toString(), "U");
    await suite.cache.delete(a);
    assert.equal((await suite.cache.get(b))?.toString(), "B");
  });

  test("large value", async () => {
    const k = key("large");
    const value = Buffer.alloc(64 * 1024, 7);
    await suite.cache.set(k, value);
    assert.deepEqual(await suite.cache.get(k), value);
  });
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
  let cache: MediaCache | undefined;
  let run = 0;
  const suite: Suite = {
    get cache() {
      return cache!;
    },
    key: (label) => `conformance:${process.pid}:${++run}:${label}`,
    settle: async () => {
      await cache?.flush?.();
    },
    test: (caseName, fn) => {
      const reason = options.skip?.[caseName];
      if (reason !== undefined) it(caseName, { skip: reason }, () => undefined);
      else it(caseName, fn);
    },
    ttlMs: options.ttlMs ?? 1000,
  };

  describe(`MediaCache conformance: ${name}`, () => {
    before(async () => {
      cache = await factory();
    });
    after(async () => {
      await cache?.close?.();
    });
    valueCases(suite);
    deleteCases(suite);
    ttlCases(suite);
    getOrLoadCases(suite);
    keyCases(suite);
  });
}
