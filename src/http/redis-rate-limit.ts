// Rate limits and upload windows shared by every process through Redis. Requests and upload
// windows use rate-limiter-flexible (atomic Lua per decision, an in-memory insurance limiter
// when Redis fails, a timeout wrapper); download bytes use a leaky bucket script of our own
// (the library has no draining bucket with an overflow). Keys are spread over the shards with
// the same HashRing as the cache, so every process sends a key to the same shard.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import type {
  RateLimiterAbstract,
  RateLimiterMemory as MemoryLimiter,
  RateLimiterRedis as RedisLimiter,
  RateLimiterRes,
  RLWrapperTimeouts as TimeoutWrapper,
} from "rate-limiter-flexible";
import { LRUCache } from "lru-cache";
import { HashRing } from "../cache/hash-ring.js";
import { ConfigError } from "../errors.js";
import type { RepositoryLogger } from "../repository/types.js";
import {
  LEAKY_BUCKET_SCRIPT,
  admitLevel,
  leak,
  type LeakyRule,
  type LeakyState,
} from "./leaky-bucket.js";
import type { RateLimitContext } from "./options.js";
import type { UploadWindowStore } from "./quota.js";
import { defaultRateLimitKey } from "./rate-limit.js";

/** Options of {@link createRedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /**
   * Built ioredis clients: one, or one per shard (keys are spread with a {@link HashRing} over
   * `host:port/db` names, so give every process the same list). Build them with
   * `enableOfflineQueue: false` so a down shard fails at once instead of queueing.
   */
  redis: Redis | readonly Redis[];
  /** Requests per key: `false` for none. @defaultValue `{ ratePerSecond: 10, burst: 50 }` */
  requests?: false | { ratePerSecond: number; burst: number };
  /**
   * The leaky bucket of download bytes per key: `false` for none.
   * @defaultValue `{ capacityBytes: 500 MiB, drainBytesPerMinute: 5 MiB, overflowBytes: 100 MiB }`
   */
  downloads?: false | { capacityBytes: number; drainBytesPerMinute: number; overflowBytes: number };
  /** What is limited; `undefined` exempts the request. @defaultValue {@link defaultRateLimitKey} */
  key?: (context: RateLimitContext) => string | undefined;
  /** Prefix of every Redis key. @defaultValue "mmk:rl" */
  namespace?: string;
  /**
   * Longest a decision waits for Redis; then the local insurance limiter decides.
   * @defaultValue 250 (the cache's command timeout)
   */
  timeoutMs?: number;
  /** Told (at warn, at most once a minute) when Redis fails and limits are counted locally. */
  logger?: RepositoryLogger;
  /** Clock of the local fallback buckets, in ms. @defaultValue `performance.now` */
  now?: () => number;
}

/** Defaults of {@link createRedisRateLimiter}. */
export const DEFAULT_REDIS_RATE_LIMITER = Object.freeze({
  /** @defaultValue `{ ratePerSecond: 10, burst: 50 }` */
  requests: Object.freeze({ ratePerSecond: 10, burst: 50 }),
  /** @defaultValue 500 MiB, 5 MiB a minute, 100 MiB once */
  downloads: Object.freeze({
    capacityBytes: 500 * 1024 * 1024,
    drainBytesPerMinute: 5 * 1024 * 1024,
    overflowBytes: 100 * 1024 * 1024,
  }),
  /** @defaultValue "mmk:rl" */
  namespace: "mmk:rl",
  /** @defaultValue 250 */
  timeoutMs: 250,
});

/** What {@link createRedisRateLimiter} returns: hooks for the handler and a window store. */
export interface RedisRateLimiter {
  /** The handler's `rateLimit` hook. */
  rateLimit: (context: RateLimitContext) => Promise<number | undefined>;
  /** The handler's `downloadLimit` hook. */
  downloadLimit: (context: RateLimitContext, bytes: number) => Promise<number | undefined>;
  /** Upload windows for `quotas.windows`, in the same Redis. */
  uploadWindows: UploadWindowStore;
}

interface Rlf {
  RateLimiterRedis: typeof RedisLimiter;
  RateLimiterMemory: typeof MemoryLimiter;
  RLWrapperTimeouts: typeof TimeoutWrapper;
}

// Loaded when a limiter is made, so importing the http entry does not load the library.
function loadRlf(): Rlf {
  const require = createRequire(import.meta.url);
  const lib = (name: string) => require(`rate-limiter-flexible/lib/${name}.js`) as unknown;
  return {
    RateLimiterRedis: lib("RateLimiterRedis") as Rlf["RateLimiterRedis"],
    RateLimiterMemory: lib("RateLimiterMemory") as Rlf["RateLimiterMemory"],
    RLWrapperTimeouts: lib("RLWrapperTimeouts") as Rlf["RLWrapperTimeouts"],
  };
}

function positive(name: string, value: unknown, integer: boolean): number {
  if (
    typeof value !== "number" ||
    !(Number.isFinite(value) && value > 0 && (!integer || Number.isSafeInteger(value)))
  ) {
    throw new ConfigError(
      `createRedisRateLimiter: expected options.${name} to be a positive ${integer ? "integer" : "number"} but received ${JSON.stringify(value)}`,
      { option: name },
    );
  }
  return value;
}

function shardName(client: Redis, i: number): string {
  const o = client.options;
  if (o.path) return `${o.path}/${o.db ?? 0}`;
  return o.host === undefined ? `shard${i}` : `${o.host}:${o.port ?? 6379}/${o.db ?? 0}`;
}

/** One client per shard, chosen for a key by the ring. */
function shardsOf(redis: RedisRateLimiterOptions["redis"]) {
  const clients = Array.isArray(redis) ? (redis as readonly Redis[]) : [redis as Redis];
  if (clients.length === 0 || clients.some((c) => typeof c?.evalsha !== "function")) {
    throw new ConfigError(
      "createRedisRateLimiter: expected options.redis to be an ioredis client or a non-empty list of them",
      { option: "redis" },
    );
  }
  const names = clients.map(shardName);
  const ring = new HashRing(names);
  const byName = new Map(names.map((n, i) => [n, clients[i]!]));
  const order = ring.shards.map((n) => byName.get(n)!);
  return { clients: order, indexFor: (key: string) => Math.max(0, ring.indexFor(key)) };
}

/** A warn at most once a minute while Redis fails. */
function fallbackNotice(logger: RepositoryLogger | undefined) {
  let last = Number.NEGATIVE_INFINITY;
  return (what: string, error: unknown) => {
    const t = Date.now();
    if (t - last < 60_000) return;
    last = t;
    logger?.warn(`rate limits: Redis failed (${what}); counting in this process meanwhile`, {
      error,
    });
  };
}

const isRes = (v: unknown): v is RateLimiterRes =>
  typeof v === "object" && v !== null && "msBeforeNext" in v;

/**
 * Rate limits shared by every process through Redis: a request rate and a leaky bucket of
 * download bytes (like matrix-media-repo's) per user, requesting server or address, and the
 * upload windows of the quotas. Each decision is one atomic script on the key's shard. When a
 * shard errors or does not answer within `timeoutMs`, the decision is made by a local
 * in-memory limiter with the same limits (fail open, still counting), so a request never
 * waits longer than `timeoutMs` for its limit.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { createMediaHandler, createRedisRateLimiter } from "matrix-media-kit/http";
 *
 * const redis = new Redis("redis://127.0.0.1:6379", { enableOfflineQueue: false });
 * const limiter = createRedisRateLimiter({ redis, requests: { ratePerSecond: 5, burst: 20 } });
 * const handle = createMediaHandler(repo, {
 *   authenticate,
 *   rateLimit: limiter.rateLimit,
 *   downloadLimit: limiter.downloadLimit,
 *   quotas: { uploadWindows: [{ periodMs: 3_600_000, maxBytes: 100 << 20 }], windows: limiter.uploadWindows },
 * });
 * ```
 */
export function createRedisRateLimiter(options: RedisRateLimiterOptions): RedisRateLimiter {
  const d = DEFAULT_REDIS_RATE_LIMITER;
  const { clients, indexFor } = shardsOf(options.redis);
  const timeoutMs = positive("timeoutMs", options.timeoutMs ?? d.timeoutMs, true);
  const namespace = options.namespace ?? d.namespace;
  if (typeof namespace !== "string" || namespace === "") {
    throw new ConfigError(
      "createRedisRateLimiter: expected options.namespace to be a non-empty string",
      {
        option: "namespace",
      },
    );
  }
  if (options.key !== undefined && typeof options.key !== "function") {
    throw new ConfigError("createRedisRateLimiter: expected options.key to be a function", {
      option: "key",
    });
  }
  const keyOf = options.key ?? defaultRateLimitKey;
  const notice = fallbackNotice(options.logger);
  const rlf = loadRlf();
  const insured = (points: number, duration: number, prefix: string) => {
    const insuranceLimiter = new rlf.RateLimiterMemory({ points, duration, keyPrefix: prefix });
    return clients.map(
      (storeClient) =>
        new rlf.RLWrapperTimeouts({
          timeoutMs,
          insuranceLimiter,
          limiter: new rlf.RateLimiterRedis({
            storeClient,
            points,
            duration,
            keyPrefix: prefix,
            rejectIfRedisNotReady: true,
          }),
        }),
    );
  };
  const requests = requestLimiters(options.requests ?? d.requests, (points, duration) =>
    insured(points, duration, `${namespace}:req`),
  );
  const downloads = downloadBucket(options, clients, indexFor, timeoutMs, namespace, notice);
  const windows = new Map<number, RateLimiterAbstract[]>();
  const windowShards = (periodMs: number) => {
    let shards = windows.get(periodMs);
    if (!shards) {
      // Points are not used (the quota compares with each user's own limit): only the window.
      shards = insured(Number.MAX_SAFE_INTEGER, periodMs / 1000, `${namespace}:up:${periodMs}`);
      windows.set(periodMs, shards);
    }
    return shards;
  };
  return {
    rateLimit: async (context) => {
      const key = keyOf(context);
      if (key === undefined || !requests) return undefined;
      try {
        await requests[indexFor(key)]!.consume(key, 1);
        return undefined;
      } catch (error) {
        if (isRes(error)) return Math.max(1, error.msBeforeNext);
        notice("requests", error);
        return undefined;
      }
    },
    downloadLimit: async (context, bytes) => {
      const key = keyOf(context);
      if (key === undefined || !downloads || !(bytes > 0)) return undefined;
      return downloads(key, bytes);
    },
    uploadWindows: {
      async used(userId, periodMs) {
        const res = await windowShards(periodMs)[indexFor(userId)]!.get(userId);
        return res?.consumedPoints ?? 0;
      },
      async add(userId, periodMs, bytes) {
        if (bytes > 0) await windowShards(periodMs)[indexFor(userId)]!.penalty(userId, bytes);
      },
    },
  };
}

/** The request limiters per shard: `burst` requests per `burst / ratePerSecond` seconds. */
function requestLimiters(
  value: RedisRateLimiterOptions["requests"],
  make: (points: number, duration: number) => RateLimiterAbstract[],
): RateLimiterAbstract[] | undefined {
  if (value === false) return undefined;
  if (typeof value !== "object" || value === null) {
    throw new ConfigError(
      "createRedisRateLimiter: expected options.requests to be false or { ratePerSecond, burst }",
      { option: "requests" },
    );
  }
  const rate = positive("requests.ratePerSecond", value.ratePerSecond, false);
  const burst = positive("requests.burst", value.burst, true);
  // Whole seconds (the library's window unit): the burst is spent over at least one second.
  return make(burst, Math.max(1, Math.ceil(burst / rate)));
}

/** The leaky bucket of download bytes: in Redis, and in memory while Redis fails. */
function downloadBucket(
  options: RedisRateLimiterOptions,
  clients: readonly Redis[],
  indexFor: (key: string) => number,
  timeoutMs: number,
  namespace: string,
  notice: (what: string, error: unknown) => void,
): ((key: string, bytes: number) => Promise<number | undefined>) | undefined {
  const value = options.downloads ?? DEFAULT_REDIS_RATE_LIMITER.downloads;
  if (value === false) return undefined;
  if (typeof value !== "object" || value === null) {
    throw new ConfigError(
      "createRedisRateLimiter: expected options.downloads to be false or { capacityBytes, drainBytesPerMinute, overflowBytes }",
      { option: "downloads" },
    );
  }
  const rule: LeakyRule = {
    capacity: positive("downloads.capacityBytes", value.capacityBytes, true),
    drainPerMs: positive("downloads.drainBytesPerMinute", value.drainBytesPerMinute, true) / 60_000,
    overflow:
      value.overflowBytes === 0
        ? 0
        : positive("downloads.overflowBytes", value.overflowBytes, true),
  };
  const now = options.now ?? (() => performance.now());
  const local = new LRUCache<string, LeakyState>({ max: 100_000 });
  const locally = (key: string, bytes: number) => {
    const state = local.get(key) ?? { level: 0, at: now() };
    const wait = leak(rule, state, bytes, now());
    local.set(key, state);
    return wait === 0 ? undefined : wait;
  };
  return async (key, bytes) => {
    const client = clients[indexFor(key)]!;
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = runLeakyBucket(
        client,
        `${namespace}:dl:${key}`,
        bytes,
        admitLevel(rule, bytes),
        rule.drainPerMs,
      );
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      });
      const wait = Number(await Promise.race([answer, timeout]));
      return wait > 0 ? wait : undefined;
    } catch (error) {
      notice("download bytes", error);
      return locally(key, bytes);
    } finally {
      clearTimeout(timer);
    }
  };
}

const LEAKY_BUCKET_SHA = createHash("sha1").update(LEAKY_BUCKET_SCRIPT).digest("hex");

/**
 * The bucket script by its hash (a download sends 40 bytes, not the script); the script itself
 * only when this Redis has not seen it yet (`NOSCRIPT`, e.g. after a restart).
 */
async function runLeakyBucket(
  client: Redis,
  key: string,
  ...args: Array<string | number>
): Promise<unknown> {
  try {
    return await client.evalsha(LEAKY_BUCKET_SHA, 1, key, ...args);
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) throw error;
    return client.eval(LEAKY_BUCKET_SCRIPT, 1, key, ...args);
  }
}
