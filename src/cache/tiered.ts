// L1 → L2 read-through with promotion; deletes reach every tier here and, through an
// invalidation bus, every other process's local tiers.
import { ConfigError } from "../errors.js";
import { createEmitter, toError, type CacheMetricsHook, type Emitter } from "./events.js";
import { singleFlight } from "./single-flight.js";
import type { CacheSetOptions, MediaCache } from "./types.js";
import { checkKey, checkSet } from "./validate.js";

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
function checkTiers(tiers: readonly MediaCache[]): void {
  const input: unknown = tiers;
  if (!Array.isArray(input) || input.length === 0) {
    throw new ConfigError(
      "tieredCache needs at least one tier, e.g. tieredCache([memoryCache({ maxBytes }), ring])",
      { option: "tiers" },
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
      throw new ConfigError(
        `tieredCache tiers[${i}] is not a MediaCache (get/set/delete/getOrLoad)`,
        { option: `tiers[${i}]` },
      );
    }
  });
}

interface TieredState {
  readonly tiers: readonly MediaCache[];
  /** The tiers that are not shared between processes: the ones remote deletes evict. */
  readonly local: readonly MediaCache[];
  readonly name: string;
  readonly events: Emitter;
  readonly invalidation: CacheInvalidation | undefined;
  closed: boolean;
  /**
   * Bumped by every delete (before and after it runs) and every remote invalidation: a read
   * or load that saw another value of `epoch` when it finishes does not write back.
   */
  epoch: number;
  unsubscribe: (() => void) | undefined;
  connecting: Promise<void> | undefined;
}

/** A check that is true while no delete or invalidation happened since it was made. */
const unchangedSince = (state: TieredState) => {
  const seen = state.epoch;
  return () => seen === state.epoch;
};

/** Runs a tier's operation; a failure (thrown or rejected) becomes an event and `fallback`. */
function safely<T>(state: TieredState, op: string, run: () => Promise<T>, fallback: T): Promise<T> {
  const failed = (error: unknown) => {
    if (state.events.enabled())
      state.events.emit({ type: "error", cache: state.name, op, error: toError(error) });
    return fallback;
  };
  try {
    return run().catch(failed);
  } catch (error) {
    return Promise.resolve(failed(error));
  }
}

/** Runs `run` on every tier (or the given ones), never rejecting. */
const onEveryTier = (
  state: TieredState,
  op: string,
  run: (tier: MediaCache) => Promise<unknown> | undefined,
  tiers = state.tiers,
): Promise<unknown> =>
  Promise.all(
    tiers.map((tier) => safely(state, op, () => run(tier) ?? Promise.resolve(), undefined)),
  );

function onRemoteInvalidation(state: TieredState, event: InvalidationEvent): void {
  state.epoch++;
  if (event.type === "delete") {
    if (state.events.enabled()) {
      const keys = event.keys;
      state.events.emit({ type: "invalidate", cache: state.name, keys, origin: "remote" });
    }
    for (const key of event.keys)
      void onEveryTier(state, "invalidate", (t) => t.delete(key), state.local);
    return;
  }
  if (state.events.enabled()) {
    const reason = event.type === "reset" ? event.reason : "remote clear";
    state.events.emit({ type: "reset", cache: state.name, reason });
  }
  void onEveryTier(state, "invalidate", (tier) => tier.clear?.(), state.local);
}

function connect(state: TieredState): Promise<void> {
  if (state.connecting !== undefined) return state.connecting;
  const invalidation = state.invalidation;
  if (invalidation === undefined || state.closed) return (state.connecting = Promise.resolve());
  state.unsubscribe = invalidation.subscribe((event) => onRemoteInvalidation(state, event));
  state.connecting = safely(
    state,
    "connect",
    () => invalidation.connect?.() ?? Promise.resolve(),
    undefined,
  );
  return state.connecting;
}

/** The first operation opens the invalidation bus, in the background. */
const ensureConnected = (state: TieredState) => {
  if (state.connecting === undefined) void connect(state);
};

async function get(state: TieredState, key: string): Promise<Buffer | undefined> {
  checkKey(key);
  ensureConnected(state);
  const valid = unchangedSince(state);
  const { tiers, events, name } = state;
  for (let i = 0; i < tiers.length; i++) {
    const value = await safely<Buffer | undefined>(
      state,
      "get",
      () => tiers[i]!.get(key),
      undefined,
    );
    if (value === undefined) continue;
    if (i > 0 && valid()) {
      void onEveryTier(state, "promote", (tier) => tier.set(key, value), tiers.slice(0, i));
    }
    if (events.enabled()) events.emit({ type: "hit", cache: name, key, bytes: value.length });
    return value;
  }
  if (events.enabled()) events.emit({ type: "miss", cache: name, key });
  return undefined;
}

async function set(
  state: TieredState,
  key: string,
  value: Buffer,
  options: CacheSetOptions | undefined,
): Promise<void> {
  checkSet(key, value, options);
  ensureConnected(state);
  await onEveryTier(state, "set", (tier) => tier.set(key, value, options));
}

/** Runs a delete or clear of every tier with the epoch bumped before and after. */
async function invalidating(state: TieredState, run: () => Promise<unknown>): Promise<void> {
  ensureConnected(state);
  state.epoch++;
  await run();
  state.epoch++;
}

async function deleteMany(state: TieredState, keys: readonly string[]): Promise<void> {
  keys.forEach(checkKey);
  if (keys.length === 0) return;
  await invalidating(state, () =>
    Promise.all(keys.map((key) => onEveryTier(state, "delete", (tier) => tier.delete(key)))),
  );
  if (state.events.enabled())
    state.events.emit({ type: "invalidate", cache: state.name, keys, origin: "local" });
  const invalidation = state.invalidation;
  if (invalidation !== undefined) {
    const message = { type: "delete", keys: [...keys] } as const;
    await safely(state, "publish", () => invalidation.publish(message), undefined);
  }
}

async function clear(state: TieredState): Promise<void> {
  await invalidating(state, () => onEveryTier(state, "clear", (tier) => tier.clear?.()));
  const invalidation = state.invalidation;
  if (invalidation !== undefined)
    await safely(state, "publish", () => invalidation.publish({ type: "clear" }), undefined);
}

async function close(state: TieredState): Promise<void> {
  if (state.closed) return;
  state.closed = true;
  state.unsubscribe?.();
  const invalidation = state.invalidation;
  await Promise.all([
    onEveryTier(state, "close", (tier) => tier.close?.()),
    invalidation === undefined
      ? undefined
      : safely(state, "close", () => invalidation.close(), undefined),
  ]);
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
  checkTiers(tiers);
  const list = Object.freeze([...tiers]);
  const state: TieredState = {
    tiers: list,
    local: list.filter((tier) => tier.shared !== true),
    name: options.name ?? "tiered",
    events: createEmitter(options.metrics),
    invalidation: options.invalidation,
    closed: false,
    epoch: 0,
    unsubscribe: undefined,
    connecting: undefined,
  };
  const getValue = (key: string) => get(state, key);
  const setValue = (key: string, value: Buffer, setOptions?: CacheSetOptions) =>
    set(state, key, value, setOptions);
  return {
    tiers: list,
    get: getValue,
    set: setValue,
    delete: (key) => deleteMany(state, [key]),
    deleteMany: (keys) => deleteMany(state, keys),
    getOrLoad: singleFlight(getValue, setValue, () => unchangedSince(state)),
    connect: () => connect(state),
    clear: () => clear(state),
    async flush() {
      await onEveryTier(state, "flush", (tier) => tier.flush?.());
    },
    close: () => close(state),
  };
}
