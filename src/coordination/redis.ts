// redisCoordinator: locks and wake-ups shared by every process on one or more Redis servers.
// This file does not load ioredis: the connections are made on first use.
import type { Redis, RedisOptions } from "ioredis";
import { parseRedisUrl } from "../cache/redis-client.js";
import { ConfigError } from "../errors.js";
import {
  checkNamespace,
  checkSharedOptions,
  invalid,
  type SharedCoordinatorOptions,
} from "./options.js";
import { redisBackend, type RedisShardSource } from "./redis-backend.js";
import { sharedCoordinator, type SharedCoordinator } from "./shared.js";

/**
 * Options of {@link redisCoordinator}: exactly one of `url`, `redis` or `shards`.
 */
export interface RedisCoordinatorOptions extends SharedCoordinatorOptions {
  /** `redis://`, `rediss://` or `unix://` URL of the one Redis to use. */
  url?: string;
  /**
   * An ioredis client to send commands with; the subscriber is its `duplicate()`. The client
   * stays yours: `close()` does not end it.
   */
  redis?: Redis;
  /**
   * URLs of several Redis servers: each lock and topic lives on one of them, chosen by name
   * with a {@link HashRing} over the URLs without credentials. Every process must list the
   * same shards.
   */
  shards?: readonly string[];
  /** Extra ioredis options for `url` and `shards`, e.g. `{ tls: { ca } }` for a private CA. */
  redisOptions?: RedisOptions;
  /**
   * Prefix of keys (`<namespace>:lock:<name>`, `<namespace>:generation`) and of the pub/sub
   * channel (`<namespace>:wake`); processes that must agree use the same.
   * @defaultValue "mmk:v1:coord"
   */
  namespace?: string;
  /** Deadline of one Redis command. @defaultValue 250 */
  commandTimeoutMs?: number;
}

/**
 * Defaults of {@link redisCoordinator}.
 *
 * @example
 * ```ts
 * import { DEFAULT_REDIS_COORDINATOR_OPTIONS } from "matrix-media-kit/coordination";
 * DEFAULT_REDIS_COORDINATOR_OPTIONS.namespace; // "mmk:v1:coord"
 * ```
 */
export const DEFAULT_REDIS_COORDINATOR_OPTIONS = Object.freeze({
  /** @defaultValue "mmk:v1:coord" */
  namespace: "mmk:v1:coord",
  /** @defaultValue 250 */
  commandTimeoutMs: 250,
});

const FACTORY = "redisCoordinator";

function shardSources(options: RedisCoordinatorOptions): RedisShardSource[] {
  const given = [options.url, options.redis, options.shards].filter((o) => o !== undefined);
  if (given.length !== 1) {
    throw new ConfigError(
      `${FACTORY} needs exactly one of url, redis (an ioredis client) or shards (URLs) ` +
        `but received ${given.length === 0 ? "none" : "several"}`,
      { option: "url" },
    );
  }
  if (options.redis !== undefined) {
    if (typeof options.redis.duplicate !== "function")
      throw invalid(FACTORY, "redis", "an ioredis client", options.redis);
    return [{ name: "redis", client: options.redis }];
  }
  if (options.url !== undefined) {
    if (typeof options.url !== "string") throw invalid(FACTORY, "url", "a URL", options.url);
    const { name, options: parsed } = parseRedisUrl(options.url, `${FACTORY} url`);
    return [{ name, options: parsed }];
  }
  const shards = options.shards;
  if (!Array.isArray(shards) || shards.length === 0 || shards.some((s) => typeof s !== "string"))
    throw invalid(FACTORY, "shards", "a non-empty array of Redis URLs", shards);
  return shards.map((url: string, i) => {
    const { name, options: parsed } = parseRedisUrl(url, `${FACTORY} shards[${i}]`);
    return { name, options: parsed };
  });
}

/**
 * A {@link Coordinator} on Redis, shared by every process of a deployment.
 *
 * - `tryLock`: `SET NX PX` in a Lua script that also draws the lock's generation from one
 *   counter per namespace (only when the lock is taken; never below the server clock in
 *   microseconds, so generations keep growing across a Redis restart). Renewed every
 *   `ttlMs / 3` by a token-checked `PEXPIRE`; `release()` is a token-checked `DEL`.
 * - The lock's `signal` aborts when a renewal finds another holder, and when no renewal
 *   succeeded for 80% of `ttlMs` (a dead or frozen Redis) — before Redis could let anyone
 *   else in. Check `signal` (and fence with `generation`) before each destructive step.
 * - Redis unreachable or slower than `commandTimeoutMs` at `tryLock`: fails open to a lock
 *   held only in this process (`local: true`; one warning per outage). Two processes may
 *   then both do the work, which the media repository tolerates (a duplicate fetch).
 * - `wait`/`notify`: a versioned envelope on the pub/sub channel `<namespace>:wake` of the
 *   topic's shard (one subscriber connection per shard); `notify` also wakes this process's
 *   waiters directly, and `wait` is a local timer that never outlives its deadline.
 *
 * Not for Redis Cluster (the script touches two keys); use `shards` to spread the load.
 *
 * @example
 * ```ts
 * import { redisCoordinator } from "matrix-media-kit/coordination";
 *
 * const coordinator = redisCoordinator({ url: process.env.REDIS_URL!, logger: console });
 * await coordinator.connect(); // optional: listen for wake-ups from the start
 * const lock = await coordinator.tryLock("remote:example.org/abc", 30_000);
 * if (lock) {
 *   try {
 *     // ... fetch, checking lock.signal.aborted before storing ...
 *   } finally {
 *     await lock.release();
 *     await coordinator.notify("remote:example.org/abc");
 *   }
 * } else {
 *   await coordinator.wait("remote:example.org/abc", 20_000);
 * }
 * await coordinator.close();
 * ```
 */
export function redisCoordinator(options: RedisCoordinatorOptions): SharedCoordinator {
  if (typeof options !== "object" || options === null)
    throw invalid(FACTORY, "options", "an options object", options);
  const shards = shardSources(options);
  const namespace = checkNamespace(
    FACTORY,
    "namespace",
    options.namespace ?? DEFAULT_REDIS_COORDINATOR_OPTIONS.namespace,
  );
  const shared = checkSharedOptions(
    FACTORY,
    options,
    DEFAULT_REDIS_COORDINATOR_OPTIONS.commandTimeoutMs,
  );
  const backend = redisBackend({
    shards,
    namespace,
    redisOptions: options.redisOptions,
    commandTimeoutMs: shared.commandTimeoutMs,
    logger: shared.logger,
  });
  return sharedCoordinator("redis", backend, shared);
}
