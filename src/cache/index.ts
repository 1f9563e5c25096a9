/**
 * Caches for media blobs: an in-process LRU bounded by bytes, a sharded Redis ring that
 * fails open, a tiered read-through cache, and cross-process invalidation over Redis
 * pub/sub. Every cache implements {@link MediaCache} and never throws for a backend failure.
 *
 * ioredis is not loaded by importing this module: the ring and the invalidation bus import
 * it when they first connect (and never, when given injected clients).
 *
 * @example
 * ```ts
 * import { memoryCache, redisInvalidation, redisRingCache, tieredCache } from "matrix-media-kit/cache";
 *
 * const cache = tieredCache(
 *   [memoryCache({ maxBytes: 256 << 20 }), redisRingCache({ shards: ["redis://127.0.0.1:6379"] })],
 *   { invalidation: redisInvalidation({ url: "redis://127.0.0.1:6379" }) },
 * );
 * await cache.connect();
 * ```
 *
 * @module
 */
export type { CacheSetOptions, MediaCache } from "./types.js";
export { CACHE_CHANNEL, type CacheEvent, type CacheMetricsHook } from "./events.js";
export { HashRing, murmur3 } from "./hash-ring.js";
export {
  DEFAULT_MEMORY_CACHE_OPTIONS,
  memoryCache,
  type MemoryCache,
  type MemoryCacheOptions,
} from "./memory.js";
export {
  tieredCache,
  type CacheInvalidation,
  type InvalidationEvent,
  type InvalidationMessage,
  type TieredCache,
  type TieredCacheOptions,
} from "./tiered.js";
export {
  DEFAULT_REDIS_INVALIDATION_OPTIONS,
  redisInvalidation,
  type RedisInvalidationOptions,
} from "./invalidation.js";
export {
  DEFAULT_REDIS_RING_OPTIONS,
  type ProbeStrategy,
  type RedisRingCacheOptions,
  type RedisShard,
} from "./redis/options.js";
export { redisRingCache, type RedisRingCache } from "./redis/ring.js";
export type { RedisShardStatus } from "./redis/shard.js";
