// Cross-process invalidation over Redis pub/sub. Two connections (a subscribed connection
// cannot publish); the subscriber reconnects forever and, after any gap, tells listeners to
// drop their local tiers, because messages sent during the gap are lost.
import { randomUUID } from "node:crypto";
import type { Redis, RedisOptions } from "ioredis";
import { createEmitter, toError, type CacheMetricsHook } from "./events.js";
import { positiveInteger } from "./memory.js";
import {
  FAIL_FAST,
  dispose,
  loadIoredis,
  parseRedisUrl,
  redact,
  withTimeout,
} from "./redis-client.js";
import type { CacheInvalidation, InvalidationEvent, InvalidationMessage } from "./tiered.js";

/** Options of {@link redisInvalidation}: give `url`, or an ioredis client as `redis`. */
export interface RedisInvalidationOptions {
  /** `redis://`, `rediss://` or `unix://` URL of the Redis that carries the messages. */
  url?: string;
  /**
   * An ioredis client to publish with; the subscriber is its `duplicate()`. The client
   * stays yours (not closed by `close()`).
   */
  redis?: Redis;
  /** Extra ioredis options for `url`, e.g. `{ tls: { ca } }` for a private CA. */
  redisOptions?: RedisOptions;
  /** Pub/sub channel; every process of one deployment must use the same. @defaultValue "mmk:v1:invalidate" */
  channel?: string;
  /** Deadline of one PUBLISH. @defaultValue 250 */
  commandTimeoutMs?: number;
  /** Background re-publishes after a failed PUBLISH, 200 ms × 2^n apart. @defaultValue 3 */
  publishRetries?: number;
  /** Name used in events. @defaultValue "invalidation" */
  name?: string;
  /** Receives every {@link CacheEvent}. */
  metrics?: CacheMetricsHook;
  /** Identity of this process in messages (its own messages are ignored). @defaultValue a random UUID */
  origin?: string;
}

/**
 * Defaults of {@link redisInvalidation}.
 *
 * @example
 * ```ts
 * import { DEFAULT_REDIS_INVALIDATION_OPTIONS } from "matrix-media-kit/cache";
 * DEFAULT_REDIS_INVALIDATION_OPTIONS.channel; // "mmk:v1:invalidate"
 * ```
 */
export const DEFAULT_REDIS_INVALIDATION_OPTIONS = Object.freeze({
  /** @defaultValue "mmk:v1:invalidate" */
  channel: "mmk:v1:invalidate",
  /** @defaultValue 250 */
  commandTimeoutMs: 250,
  /** @defaultValue 3 */
  publishRetries: 3,
  /** @defaultValue "invalidation" */
  name: "invalidation",
});

interface Wire {
  v: 1;
  origin: string;
  type: "delete" | "clear";
  keys?: string[];
}

/**
 * A {@link CacheInvalidation} bus over Redis pub/sub, for {@link tieredCache}: a `delete`
 * in one process evicts the key from every other process's in-memory tier.
 *
 * Delivery is at-most-once (Redis pub/sub). What covers the gaps: a failed PUBLISH is
 * retried in the background; a subscriber that lost its connection emits `reset` when it
 * is back, and the tiered cache then clears its local tiers.
 *
 * @example
 * ```ts
 * import { memoryCache, redisInvalidation, redisRingCache, tieredCache } from "matrix-media-kit/cache";
 *
 * const cache = tieredCache([memoryCache({ maxBytes: 64 << 20 }), redisRingCache({ shards: [process.env.REDIS_URL!] })], {
 *   invalidation: redisInvalidation({ url: process.env.REDIS_URL! }),
 * });
 * await cache.connect();
 * ```
 */
export function redisInvalidation(options: RedisInvalidationOptions): CacheInvalidation {
  if (
    typeof options !== "object" ||
    options === null ||
    (options.url === undefined) === (options.redis === undefined)
  ) {
    throw new TypeError("redisInvalidation needs exactly one of url or redis (an ioredis client)");
  }
  const parsed =
    options.url === undefined ? undefined : parseRedisUrl(options.url, "redisInvalidation url");
  const channel = options.channel ?? DEFAULT_REDIS_INVALIDATION_OPTIONS.channel;
  if (typeof channel !== "string" || channel === "")
    throw new TypeError("Expected a non-empty string for redisInvalidation channel");
  const timeoutMs = positiveInteger(
    options.commandTimeoutMs ?? DEFAULT_REDIS_INVALIDATION_OPTIONS.commandTimeoutMs,
    "redisInvalidation commandTimeoutMs",
  );
  const retries = positiveInteger(
    options.publishRetries ?? DEFAULT_REDIS_INVALIDATION_OPTIONS.publishRetries,
    "redisInvalidation publishRetries",
    true,
  );
  const name = options.name ?? DEFAULT_REDIS_INVALIDATION_OPTIONS.name;
  const origin = options.origin ?? randomUUID();
  const events = createEmitter(options.metrics);
  const listeners = new Set<(event: InvalidationEvent) => void>();
  const timers = new Set<NodeJS.Timeout>();
  let publisher: Redis | undefined;
  let subscriber: Redis | undefined;
  let connecting: Promise<void> | undefined;
  let closed = false;

  const fail = (op: string, error: unknown) => {
    if (events.enabled()) events.emit({ type: "error", cache: name, op, error: toError(error) });
  };
  const deliver = (event: InvalidationEvent) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        fail("listener", error);
      }
    }
  };

  const open = async (): Promise<void> => {
    const { Redis: RedisClass } = await loadIoredis();
    if (closed) return;
    const backoff = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000);
    if (options.redis !== undefined) {
      publisher = options.redis;
      subscriber = options.redis.duplicate({
        lazyConnect: true,
        retryStrategy: backoff,
        enableOfflineQueue: true,
      });
    } else {
      // The publisher reconnects in the background too, but never queues or replays.
      const tls =
        parsed!.options.tls === undefined
          ? undefined
          : { ...options.redisOptions?.tls, ...parsed!.options.tls };
      publisher = new RedisClass({
        ...options.redisOptions,
        ...parsed!.options,
        tls,
        ...FAIL_FAST,
        retryStrategy: backoff,
        connectionName: "mmk-invalidation-pub",
      });
      subscriber = new RedisClass({
        ...options.redisOptions,
        ...parsed!.options,
        tls,
        lazyConnect: true,
        retryStrategy: backoff,
        connectionName: "mmk-invalidation-sub",
      });
      publisher.on("error", (error: Error) => fail("publisher", error));
      publisher.connect().catch((error: unknown) => fail("connect", error));
    }
    const sub = subscriber;
    sub.on("error", (error: Error) => fail("subscriber", error));
    let lost = false;
    sub.on("close", () => {
      lost = true;
    });
    sub.on("ready", () => {
      // ioredis re-subscribes on its own after a reconnect; whatever was published in
      // between is gone, so local tiers must forget everything.
      if (lost && !closed) {
        lost = false;
        deliver({ type: "reset", reason: "invalidation subscriber reconnected" });
      }
    });
    sub.on("messageBuffer", (_channel: Buffer, payload: Buffer) => {
      let wire: Wire;
      try {
        wire = JSON.parse(payload.toString("utf8")) as Wire;
      } catch (error) {
        fail("decode", error);
        return;
      }
      if (wire.v !== 1 || wire.origin === origin) return;
      if (wire.type === "delete" && Array.isArray(wire.keys))
        deliver({ type: "delete", keys: wire.keys });
      else if (wire.type === "clear") deliver({ type: "clear" });
    });
    await withTimeout(
      (async () => {
        await sub.connect();
        await sub.subscribe(channel);
      })(),
      Math.max(timeoutMs * 4, 1000),
      `subscribing to ${parsed === undefined ? "invalidation channel" : redact(parsed.name)}`,
    ).catch((error: unknown) => {
      // Keeps retrying in the background (retryStrategy); a later ready emits reset.
      lost = true;
      fail("subscribe", error);
    });
  };

  const connect = (): Promise<void> => (connecting ??= open());

  const send = async (wire: Wire, attempt: number): Promise<void> => {
    if (closed) return;
    try {
      // The subscriber may still be connecting (up to a second): a publish does not wait
      // for it beyond its own deadline; a failure is retried in the background.
      await withTimeout(connect(), timeoutMs, "connecting the invalidation bus");
      if (publisher === undefined) throw new Error("invalidation publisher is not connected");
      await withTimeout(publisher.publish(channel, JSON.stringify(wire)), timeoutMs, "PUBLISH");
    } catch (error) {
      fail("publish", error);
      if (attempt < retries && !closed) {
        const timer = setTimeout(
          () => {
            timers.delete(timer);
            void send(wire, attempt + 1);
          },
          200 * 2 ** attempt,
        );
        timer.unref();
        timers.add(timer);
      }
    }
  };

  return {
    connect,
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async publish(message: InvalidationMessage) {
      const wire: Wire =
        message.type === "delete"
          ? { v: 1, origin, type: "delete", keys: [...message.keys] }
          : { v: 1, origin, type: "clear" };
      await send(wire, 0);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      listeners.clear();
      await connecting?.catch(() => undefined);
      if (subscriber !== undefined) dispose(subscriber);
      if (publisher !== undefined && options.redis === undefined) dispose(publisher);
    },
  };
}
