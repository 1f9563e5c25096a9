// The in-process tier: lru-cache bounded by bytes, never by entry count alone.
import { LRUCache } from "lru-cache";
import { createEmitter, type CacheMetricsHook } from "./events.js";
import { ConfigError } from "../errors.js";
import { singleFlight } from "./single-flight.js";
import type { CacheSetOptions, MediaCache } from "./types.js";
import { checkKey, checkSet, integerOption } from "./validate.js";

/** Options of {@link memoryCache}. `maxBytes` is required: an unbounded cache does not type-check. */
export interface MemoryCacheOptions {
  /** Upper bound of the summed lengths of the cached values, in bytes (a positive integer). */
  maxBytes: number;
  /**
   * Values longer than this are not cached, so one large file cannot flush the hot set.
   * @defaultValue `Math.floor(maxBytes / 8)`
   */
  maxItemBytes?: number;
  /**
   * Time to live of entries set without `ttlMs`; `undefined` keeps them until evicted.
   * @defaultValue undefined
   */
  defaultTtlMs?: number;
  /** Name used in events. @defaultValue "memory" */
  name?: string;
  /** Receives every {@link CacheEvent}. */
  metrics?: CacheMetricsHook;
  /** Clock in milliseconds (for TTLs), injectable for tests. @defaultValue `performance.now` */
  now?: () => number;
}

/**
 * Defaults of {@link memoryCache} (besides `maxBytes`, which has none on purpose).
 *
 * @example
 * ```ts
 * import { DEFAULT_MEMORY_CACHE_OPTIONS } from "matrix-media-kit/cache";
 * DEFAULT_MEMORY_CACHE_OPTIONS.name; // "memory"
 * ```
 */
export const DEFAULT_MEMORY_CACHE_OPTIONS = Object.freeze({
  /** Items above `maxBytes / maxItemBytesDivisor` are not cached. @defaultValue 8 */
  maxItemBytesDivisor: 8,
  /** @defaultValue "memory" */
  name: "memory",
});

/** The object {@link memoryCache} returns. */
export interface MemoryCache extends MediaCache {
  /** Bytes currently held. */
  readonly bytes: number;
  /** Entries currently held. */
  readonly size: number;
  /** True when `key` is present (does not count as a hit, does not refresh recency). */
  has(key: string): boolean;
  clear(): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The LRU behind a memory cache, with its options checked. */
function createLru(options: MemoryCacheOptions): {
  lru: LRUCache<string, Buffer>;
  maxItemBytes: number;
} {
  if (typeof options !== "object" || options === null) {
    throw new ConfigError(
      "memoryCache needs options with maxBytes, e.g. memoryCache({ maxBytes: 64 * 1024 * 1024 })",
      { option: "maxBytes" },
    );
  }
  const maxBytes = integerOption(options.maxBytes, "memoryCache", "maxBytes");
  const maxItemBytes =
    options.maxItemBytes === undefined
      ? Math.max(1, Math.floor(maxBytes / DEFAULT_MEMORY_CACHE_OPTIONS.maxItemBytesDivisor))
      : integerOption(options.maxItemBytes, "memoryCache", "maxItemBytes");
  if (maxItemBytes > maxBytes) {
    throw new ConfigError(
      `memoryCache maxItemBytes (${maxItemBytes}) must not exceed maxBytes (${maxBytes})`,
      { option: "maxItemBytes" },
    );
  }
  const defaultTtlMs =
    options.defaultTtlMs === undefined
      ? undefined
      : integerOption(options.defaultTtlMs, "memoryCache", "defaultTtlMs");
  const now = options.now;
  const lru = new LRUCache<string, Buffer>({
    maxSize: maxBytes,
    maxEntrySize: maxItemBytes,
    // lru-cache wants positive sizes; an empty value still costs its entry.
    sizeCalculation: (value) => Math.max(1, value.length),
    ...(defaultTtlMs === undefined ? {} : { ttl: defaultTtlMs }),
    ttlAutopurge: false,
    allowStale: false,
    // An injected clock is read on every access (no cached "now"), so tests can step it.
    ...(now === undefined ? {} : { perf: { now }, ttlResolution: 0 }),
  });
  return { lru, maxItemBytes };
}

/**
 * An in-process LRU cache of blobs bounded by their total size in bytes (lru-cache).
 * Values are stored as given, not copied: do not mutate a Buffer after `set`.
 *
 * @example
 * ```ts
 * import { memoryCache } from "matrix-media-kit/cache";
 *
 * const l1 = memoryCache({ maxBytes: 256 * 1024 * 1024 });
 * await l1.set("local:example.org/abc", Buffer.from("..."), { ttlMs: 60_000 });
 * const hit = await l1.get("local:example.org/abc");
 * ```
 */
export function memoryCache(options: MemoryCacheOptions): MemoryCache {
  const { lru, maxItemBytes } = createLru(options);
  const name = options.name ?? DEFAULT_MEMORY_CACHE_OPTIONS.name;
  const events = createEmitter(options.metrics);
  const defaultTtlMs = options.defaultTtlMs;

  const get = async (key: string): Promise<Buffer | undefined> => {
    checkKey(key);
    const value = lru.get(key);
    if (events.enabled()) {
      events.emit(
        value === undefined
          ? { type: "miss", cache: name, key }
          : { type: "hit", cache: name, key, bytes: value.length },
      );
    }
    return value;
  };

  const set = async (key: string, value: Buffer, setOptions?: CacheSetOptions): Promise<void> => {
    checkSet(key, value, setOptions);
    if (value.length > maxItemBytes) {
      // Also drop an older, smaller value so a reader never sees a stale one.
      lru.delete(key);
      if (events.enabled())
        events.emit({ type: "skip", cache: name, key, bytes: value.length, reason: "too-large" });
      return;
    }
    const ttl = setOptions?.ttlMs ?? defaultTtlMs;
    lru.set(key, value, ttl === undefined ? undefined : { ttl });
    if (events.enabled()) events.emit({ type: "set", cache: name, key, bytes: value.length });
  };

  return {
    get,
    set,
    async delete(key) {
      checkKey(key);
      lru.delete(key);
      if (events.enabled()) events.emit({ type: "delete", cache: name, key });
    },
    getOrLoad: singleFlight(get, set),
    has: (key) => lru.has(key),
    get bytes() {
      return lru.calculatedSize;
    },
    get size() {
      return lru.size;
    },
    async clear() {
      lru.clear();
    },
    async flush() {},
    async close() {
      lru.clear();
    },
  };
}
