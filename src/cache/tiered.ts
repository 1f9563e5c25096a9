// L1 → L2 read-through with promotion; deletes reach every tier here and, through an
// invalidation bus, every other process's local tiers.
import { createEmitter, toError, type CacheMetricsHook } from "./events.js";
import { checkKey, checkSet } from "./memory.js";
import { singleFlight } from "./single-flight.js";
import type { CacheSetOptions, MediaCache } from "./types.js";

/** What travels on an invalidation bus. */
export type InvalidationMessage = { type: "delete"; keys: readonly string[] } | { type: "clear" };

/**
 * What a subscriber hears: another process's message, or `reset` when messages may have
 * been lost (the bus reconnected) — local tiers must then be dropped entirely.
 */
export type InvalidationEvent = InvalidationMessage | { type: "reset"; reason: string };

/**
 * A cross-process invalidation bus (see {@link redisInvalidation}). Implementations never
 * throw for a transport failure and do not deliver a process's own messages back to it.
 */
export interface CacheInvalidation {
  /** Announces a change to every other subscribed process. */
  publish(message: InvalidationMessage): Promise<void>;
  /** Registers a listener; returns the function that removes it. */
  subscribe(listener: (event: InvalidationEvent) => void): () => void;
  /** Opens the connections now (otherwise the first publish or subscribe does). */
  connect?(): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/** Options of {@link tieredCache}. */
export interface TieredCacheOptions {
  /**
   * Cross-process invalidation: deletes are published on it, and other processes' deletes
   * evict this process's non-shared tiers. Owned by the tiered cache (closed by `close()`).
   */
  invalidation?: CacheInvalidation;
  /** Name used in events. @defaultValue "tiered" */
  name?: string;
  /** Receives every {@link CacheEvent} of the tiered cache itself (tiers have their own). */
  metrics?: CacheMetricsHook;
}

/** The object {@link tieredCache} returns. */
export interface TieredCache extends MediaCache {
  /** The tiers, fastest first. */
  readonly tiers: readonly MediaCache[];
  /** Deletes several keys from every tier and announces them in one message. */
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Opens the invalidation bus now (otherwise the first operation does, in the background). */
  connect(): Promise<void>;
  clear(): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Read-through over tiers, fastest first: `get` tries each tier in turn and copies a hit
 * into the faster tiers (promotion); `set` writes every tier; `getOrLoad` is single-flight
 * and fills every tier off the response path.
 *
 * `delete` removes the key from **every tier of this process** (including shared Redis
 * shards) and, with `invalidation`, from **every other process's local tiers**: this is
 * how quarantine empties every cache everywhere. A read that overlaps a delete does not
 * promote or fill what it read, so a deleted value is not resurrected by a racing reader.
 *
 * @example
 * ```ts
 * import { memoryCache, redisRingCache, redisInvalidation, tieredCache } from "matrix-media-kit/cache";
 *
 * const cache = tieredCache(
 *   [memoryCache({ maxBytes: 256 * 1024 * 1024 }), redisRingCache({ shards: ["redis://cache-1:6379"] })],
 *   { invalidation: redisInvalidation({ url: "redis://cache-1:6379" }) },
 * );
 * await cache.connect();
 * const bytes = await cache.getOrLoad("remote:matrix.org/AbCd", () => fetchFromDatastore());
 * await cache.delete("remote:matrix.org/AbCd"); // gone from L1 and L2 here, and from L1 everywhere
 * ```
 */
export function tieredCache(
  tiers: readonly MediaCache[],
  options: TieredCacheOptions = {},
): TieredCache {
  const input: unknown = tiers;
  if (!Array.isArray(input) || input.length === 0) {
    throw new TypeError(
      "tieredCache needs at least one tier, e.g. tieredCache([memoryCache({ maxBytes }), ring])",
    );
  }
  tiers.forEach((tier, i) => {
    if (
      typeof tier !== "object" ||
      tier === null ||
      typeof tier.get !== "function" ||
      typeof tier.set !== "function" ||
      typeof tier.delete !== "function"
    ) {
      throw new TypeError(`tieredCache tiers[${i}] is not a MediaCache (get/set/delete/getOrLoad)`);
    }
  });
  const list = Object.freeze([...tiers]);
  const name = options.name ?? "tiered";
  const events = createEmitter(options.metrics);
  const invalidation = options.invalidation;
  let closed = false;
  // Bumped by every delete (before and after it runs) and every remote invalidation: a read
  // or load that saw another value of `epoch` when it finishes does not write back.
  let epoch = 0;
  const guard = () => {
    const seen = epoch;
    return () => seen === epoch;
  };

  const fail = (op: string, error: unknown) => {
    if (events.enabled()) events.emit({ type: "error", cache: name, op, error: toError(error) });
  };
  const safe = <T>(op: string, run: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return run().catch((error: unknown) => {
        fail(op, error);
        return fallback;
      });
    } catch (error) {
      fail(op, error);
      return Promise.resolve(fallback);
    }
  };

  const local = list.filter((tier) => tier.shared !== true);
  const onRemote = (event: InvalidationEvent) => {
    epoch++;
    if (event.type === "delete") {
      if (events.enabled())
        events.emit({ type: "invalidate", cache: name, keys: event.keys, origin: "remote" });
      for (const tier of local)
        for (const key of event.keys) void safe("invalidate", () => tier.delete(key), undefined);
    } else {
      if (events.enabled()) {
        events.emit({
          type: "reset",
          cache: name,
          reason: event.type === "reset" ? event.reason : "remote clear",
        });
      }
      for (const tier of local)
        void safe("invalidate", () => tier.clear?.() ?? Promise.resolve(), undefined);
    }
  };
  let unsubscribe: (() => void) | undefined;
  let connecting: Promise<void> | undefined;
  const connect = (): Promise<void> => {
    if (connecting !== undefined) return connecting;
    if (invalidation === undefined || closed) return (connecting = Promise.resolve());
    unsubscribe = invalidation.subscribe(onRemote);
    connecting = safe("connect", () => invalidation.connect?.() ?? Promise.resolve(), undefined);
    return connecting;
  };
  const ensure = () => {
    if (connecting === undefined) void connect();
  };

  const get = async (key: string): Promise<Buffer | undefined> => {
    checkKey(key);
    ensure();
    const valid = guard();
    for (let i = 0; i < list.length; i++) {
      const value = await safe<Buffer | undefined>("get", () => list[i]!.get(key), undefined);
      if (value === undefined) continue;
      if (i > 0 && valid()) {
        for (let j = 0; j < i; j++) void safe("promote", () => list[j]!.set(key, value), undefined);
      }
      if (events.enabled()) events.emit({ type: "hit", cache: name, key, bytes: value.length });
      return value;
    }
    if (events.enabled()) events.emit({ type: "miss", cache: name, key });
    return undefined;
  };

  const set = async (key: string, value: Buffer, setOptions?: CacheSetOptions): Promise<void> => {
    checkSet(key, value, setOptions);
    ensure();
    await Promise.all(
      list.map((tier) => safe("set", () => tier.set(key, value, setOptions), undefined)),
    );
  };

  const deleteMany = async (keys: readonly string[]): Promise<void> => {
    keys.forEach(checkKey);
    if (keys.length === 0) return;
    ensure();
    epoch++;
    await Promise.all(
      list.flatMap((tier) => keys.map((key) => safe("delete", () => tier.delete(key), undefined))),
    );
    epoch++;
    if (events.enabled()) events.emit({ type: "invalidate", cache: name, keys, origin: "local" });
    if (invalidation !== undefined) {
      await safe(
        "publish",
        () => invalidation.publish({ type: "delete", keys: [...keys] }),
        undefined,
      );
    }
  };

  return {
    tiers: list,
    get,
    set,
    delete: (key) => deleteMany([key]),
    deleteMany,
    getOrLoad: singleFlight(get, set, guard),
    connect,
    async clear() {
      ensure();
      epoch++;
      await Promise.all(
        list.map((tier) => safe("clear", () => tier.clear?.() ?? Promise.resolve(), undefined)),
      );
      epoch++;
      if (invalidation !== undefined)
        await safe("publish", () => invalidation.publish({ type: "clear" }), undefined);
    },
    async flush() {
      await Promise.all(
        list.map((tier) => safe("flush", () => tier.flush?.() ?? Promise.resolve(), undefined)),
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe?.();
      await Promise.all([
        ...list.map((tier) => safe("close", () => tier.close?.() ?? Promise.resolve(), undefined)),
        ...(invalidation === undefined
          ? []
          : [safe("close", () => invalidation.close(), undefined)]),
      ]);
    },
  };
}
