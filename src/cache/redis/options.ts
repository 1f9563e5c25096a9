// The ring's options: their defaults in one object, and their validation at construction.
import type { Cluster, Redis, RedisOptions } from "ioredis";
import { ConfigError } from "../../errors.js";
import type { CacheMetricsHook } from "../events.js";
import { integerOption } from "../validate.js";

/**
 * One shard: a URL (`redis://[user:pass@]host:port[/db]`, `rediss://…` for TLS,
 * `unix:///path/to.sock[?password=…&db=N]`), or an object with a URL or an injected ioredis
 * client (`Redis`, or a `Cluster` for operators who already run one).
 */
export type RedisShard =
  | string
  | {
      /** Name on the ring. @defaultValue the URL without credentials (required with `client`) */
      name?: string;
      url?: string;
      /** An ioredis client you built and own (not closed by `close()`). */
      client?: Redis | Cluster;
    };

/**
 * When to probe a shard whose breaker is open: called with the number of the probe about
 * to be scheduled (1 for the first one after the breaker opened, 2 after one failed probe…)
 * and the ring's `probeIntervalMs`; returns the delay before that probe, in milliseconds.
 * The shape of ioredis's `retryStrategy`, except that a down shard is never given up on.
 *
 * @example
 * ```ts
 * import type { ProbeStrategy } from "matrix-media-kit/cache";
 * // Exponential backoff from probeIntervalMs, at most 30 s apart.
 * const backoff: ProbeStrategy = (attempt, intervalMs) => Math.min(intervalMs * 2 ** (attempt - 1), 30_000);
 * ```
 */
export type ProbeStrategy = (attempt: number, probeIntervalMs: number) => number;

/** Options of {@link redisRingCache}. */
export interface RedisRingCacheOptions {
  /** The shards. One is enough for most deployments; 3+ for large or shared ones. */
  shards: readonly RedisShard[];
  /** Key prefix, so a shared Redis is safe: keys are `${namespace}:v1:${key}`. @defaultValue "mmk" */
  namespace?: string;
  /** Deadline of every command; a late reply is a miss. @defaultValue 250 */
  commandTimeoutMs?: number;
  /** Deadline of opening a connection (TCP, TLS, AUTH and a TIME round trip). @defaultValue 1000 */
  connectTimeoutMs?: number;
  /** Values longer than this are not cached. @defaultValue 8 MiB */
  maxItemBytes?: number;
  /** TTL of entries set without `ttlMs`; `undefined` leaves eviction to Redis (allkeys-lfu). @defaultValue undefined */
  defaultTtlMs?: number;
  /** Consecutive failures (timeouts, resets) that open a shard's breaker. @defaultValue 3 */
  failureThreshold?: number;
  /**
   * Interval of the background probe of a shard whose breaker is open (what the default
   * `probeStrategy` returns), and the delay before a failed delete is sent again.
   * @defaultValue 1000
   */
  probeIntervalMs?: number;
  /**
   * Delay before each probe of a shard whose breaker is open (see {@link ProbeStrategy}).
   * @defaultValue a probe every `probeIntervalMs`
   */
  probeStrategy?: ProbeStrategy;
  /** Writes in flight at once, for the whole ring. @defaultValue 64 */
  maxConcurrentWrites?: number;
  /**
   * Writes waiting for a slot; more are dropped (it is a cache), and so is a write that
   * waited longer than `commandTimeoutMs`. @defaultValue 256
   */
  maxQueuedWrites?: number;
  /**
   * Keys deleted while a shard was unreachable, remembered per shard and deleted there
   * before the shard is used again; past this many, the shard's whole namespace is purged
   * on rejoin instead. @defaultValue 10000
   */
  maxPendingDeletes?: number;
  /**
   * Extra ioredis options for URL shards, e.g. `{ tls: { ca } }` (TLS options apply to
   * `rediss://` shards only); the fail-fast options (no offline queue, no replay, no
   * automatic reconnect: the ring probes instead) always win.
   * @defaultValue undefined
   */
  redisOptions?: RedisOptions;
  /** Name used in events. @defaultValue "ring" */
  name?: string;
  /** Receives every {@link CacheEvent}. @defaultValue undefined */
  metrics?: CacheMetricsHook;
  /**
   * Monotonic clock in milliseconds, read for every deadline and by the breaker; write
   * expiries are this clock plus the server's offset from it, measured with TIME on connect.
   * Injectable so time-dependent behaviour is tested deterministically.
   * @defaultValue performance.now
   */
  now?: () => number;
}

/**
 * Defaults of {@link redisRingCache}.
 *
 * @example
 * ```ts
 * import { DEFAULT_REDIS_RING_OPTIONS, redisRingCache } from "matrix-media-kit/cache";
 * const ring = redisRingCache({ shards: ["redis://127.0.0.1:6379"], commandTimeoutMs: DEFAULT_REDIS_RING_OPTIONS.commandTimeoutMs * 2 });
 * ```
 */
export const DEFAULT_REDIS_RING_OPTIONS = Object.freeze({
  /** @defaultValue "mmk" */
  namespace: "mmk",
  /** @defaultValue 250 */
  commandTimeoutMs: 250,
  /** @defaultValue 1000 */
  connectTimeoutMs: 1000,
  /** @defaultValue 8 MiB */
  maxItemBytes: 8 * 1024 * 1024,
  /** @defaultValue 3 */
  failureThreshold: 3,
  /** @defaultValue 1000 */
  probeIntervalMs: 1000,
  /**
   * A probe every `probeIntervalMs`, however long the shard has been down.
   * @defaultValue `(attempt, probeIntervalMs) => probeIntervalMs`
   */
  probeStrategy: (_attempt: number, probeIntervalMs: number): number => probeIntervalMs,
  /** @defaultValue 64 */
  maxConcurrentWrites: 64,
  /** @defaultValue 256 */
  maxQueuedWrites: 256,
  /** @defaultValue 10000 */
  maxPendingDeletes: 10_000,
  /** @defaultValue "ring" */
  name: "ring",
  /** @defaultValue performance.now */
  now: (): number => performance.now(),
});

/** @internal The options of one ring, validated and with defaults applied. */
export interface RingConfig {
  /** `${namespace}:v1:`, in front of every key. */
  readonly prefix: string;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxItemBytes: number;
  readonly defaultTtlMs: number | undefined;
  readonly failureThreshold: number;
  readonly probeIntervalMs: number;
  readonly probeStrategy: ProbeStrategy;
  readonly maxConcurrentWrites: number;
  readonly maxQueuedWrites: number;
  readonly maxPendingDeletes: number;
  readonly redisOptions: RedisOptions | undefined;
  readonly name: string;
  readonly now: () => number;
}

const FACTORY = "redisRingCache";

function functionOption<F>(value: F | undefined, option: string, fallback: F): F {
  if (value === undefined) return fallback;
  if (typeof value !== "function") {
    throw new ConfigError(
      `Expected a function for ${FACTORY} ${option} but received ${typeof value}`,
      { option },
    );
  }
  return value;
}

function namespaceOption(value: unknown): string {
  if (typeof value !== "string" || value === "" || value.includes("*")) {
    throw new ConfigError(
      `Expected a non-empty string without "*" for ${FACTORY} namespace but received ${JSON.stringify(value)}`,
      { option: "namespace" },
    );
  }
  return value;
}

/** @internal Validates everything but the shard list (see `createShards`). */
export function resolveRingOptions(options: RedisRingCacheOptions): RingConfig {
  if (typeof options !== "object" || options === null) {
    throw new ConfigError(
      `${FACTORY} needs options, e.g. ${FACTORY}({ shards: ["redis://127.0.0.1:6379"] })`,
    );
  }
  const D = DEFAULT_REDIS_RING_OPTIONS;
  const count = (option: keyof typeof D & keyof RedisRingCacheOptions, allowZero = false) =>
    integerOption(options[option] ?? D[option], FACTORY, option, allowZero);
  return {
    prefix: `${namespaceOption(options.namespace ?? D.namespace)}:v1:`,
    commandTimeoutMs: count("commandTimeoutMs"),
    connectTimeoutMs: count("connectTimeoutMs"),
    maxItemBytes: count("maxItemBytes"),
    defaultTtlMs:
      options.defaultTtlMs === undefined
        ? undefined
        : integerOption(options.defaultTtlMs, FACTORY, "defaultTtlMs"),
    failureThreshold: count("failureThreshold"),
    probeIntervalMs: count("probeIntervalMs"),
    probeStrategy: functionOption(options.probeStrategy, "probeStrategy", D.probeStrategy),
    maxConcurrentWrites: count("maxConcurrentWrites"),
    maxQueuedWrites: count("maxQueuedWrites", true),
    maxPendingDeletes: count("maxPendingDeletes", true),
    redisOptions: options.redisOptions,
    name: options.name ?? D.name,
    now: functionOption(options.now, "now", D.now),
  };
}
