// Cross-process invalidation over Redis pub/sub. Two connections (a subscribed connection
// cannot publish); the subscriber reconnects forever and, after any gap, tells listeners to
// drop their local tiers, because messages sent during the gap are lost.
import { randomUUID } from "node:crypto";
import type { Redis, RedisOptions } from "ioredis";
import { decodeMessage, encodeInvalidation } from "../coordination/envelope.js";
import { ConfigError } from "../errors.js";
import { createEmitter, toError, type CacheMetricsHook, type Emitter } from "./events.js";
import {
  FAIL_FAST,
  dispose,
  loadIoredis,
  parseRedisUrl,
  redact,
  withTimeout,
  type ParsedRedisUrl,
} from "./redis-client.js";
import type { CacheInvalidation, InvalidationEvent, InvalidationMessage } from "./tiered.js";
import { integerOption } from "./validate.js";

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
  /**
   * Told about messages it ignores: of an unknown envelope version (a newer release during a
   * rolling upgrade) at `warn`, malformed ones at `debug`.
   */
  logger?: {
    warn(message: string, details?: Record<string, unknown>): void;
    debug?(message: string, details?: Record<string, unknown>): void;
  };
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

interface BusState {
  readonly options: RedisInvalidationOptions;
  /** The parsed `url`, or undefined for an injected client. */
  readonly parsed: ParsedRedisUrl | undefined;
  readonly channel: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly name: string;
  readonly origin: string;
  readonly events: Emitter;
  readonly listeners: Set<(event: InvalidationEvent) => void>;
  /** Background re-publishes. */
  readonly timers: Set<NodeJS.Timeout>;
  publisher: Redis | undefined;
  subscriber: Redis | undefined;
  connecting: Promise<void> | undefined;
  closed: boolean;
}

const FACTORY = "redisInvalidation";
const D = DEFAULT_REDIS_INVALIDATION_OPTIONS;

function createBusState(options: RedisInvalidationOptions): BusState {
  if (
    typeof options !== "object" ||
    options === null ||
    (options.url === undefined) === (options.redis === undefined)
  ) {
    throw new ConfigError(`${FACTORY} needs exactly one of url or redis (an ioredis client)`, {
      option: "url",
    });
  }
  const channel = options.channel ?? D.channel;
  if (typeof channel !== "string" || channel === "")
    throw new ConfigError(`Expected a non-empty string for ${FACTORY} channel`, {
      option: "channel",
    });
  return {
    options,
    parsed: options.url === undefined ? undefined : parseRedisUrl(options.url, `${FACTORY} url`),
    channel,
    timeoutMs: integerOption(
      options.commandTimeoutMs ?? D.commandTimeoutMs,
      FACTORY,
      "commandTimeoutMs",
    ),
    retries: integerOption(
      options.publishRetries ?? D.publishRetries,
      FACTORY,
      "publishRetries",
      true,
    ),
    name: options.name ?? D.name,
    origin: options.origin ?? randomUUID(),
    events: createEmitter(options.metrics),
    listeners: new Set(),
    timers: new Set(),
    publisher: undefined,
    subscriber: undefined,
    connecting: undefined,
    closed: false,
  };
}

function reportError(bus: BusState, op: string, error: unknown): void {
  if (bus.events.enabled())
    bus.events.emit({ type: "error", cache: bus.name, op, error: toError(error) });
}

function deliver(bus: BusState, event: InvalidationEvent): void {
  for (const listener of bus.listeners) {
    try {
      listener(event);
    } catch (error) {
      reportError(bus, "listener", error);
    }
  }
}

const backoff = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000);

/** Builds the publisher and the subscriber (a subscribed connection cannot publish). */
function createClients(
  bus: BusState,
  RedisClass: typeof Redis,
): { publisher: Redis; subscriber: Redis } {
  const { options, parsed } = bus;
  if (options.redis !== undefined) {
    const subscriber = options.redis.duplicate({
      lazyConnect: true,
      retryStrategy: backoff,
      enableOfflineQueue: true,
    });
    return { publisher: options.redis, subscriber };
  }
  const tls =
    parsed!.options.tls === undefined
      ? undefined
      : { ...options.redisOptions?.tls, ...parsed!.options.tls };
  const target: RedisOptions = { ...options.redisOptions, ...parsed!.options, tls };
  // The publisher reconnects in the background too, but never queues or replays.
  const publisher = new RedisClass({
    ...target,
    ...FAIL_FAST,
    retryStrategy: backoff,
    connectionName: "mmk-invalidation-pub",
  });
  const subscriber = new RedisClass({
    ...target,
    lazyConnect: true,
    retryStrategy: backoff,
    connectionName: "mmk-invalidation-sub",
  });
  publisher.on("error", (error: Error) => reportError(bus, "publisher", error));
  publisher.connect().catch((error: unknown) => reportError(bus, "connect", error));
  return { publisher, subscriber };
}

/** A message on the channel: the versioned envelope of every cross-process message. */
function onMessage(bus: BusState, payload: Buffer): void {
  const message = decodeMessage(payload, bus.options.logger);
  if (message === undefined || message.type === "wake" || message.origin === bus.origin) return;
  if (message.type === "delete") deliver(bus, { type: "delete", keys: message.keys });
  else deliver(bus, { type: "clear" });
}

async function open(bus: BusState): Promise<void> {
  const { Redis: RedisClass } = await loadIoredis();
  if (bus.closed) return;
  const { publisher, subscriber: sub } = createClients(bus, RedisClass);
  bus.publisher = publisher;
  bus.subscriber = sub;
  sub.on("error", (error: Error) => reportError(bus, "subscriber", error));
  let lost = false;
  sub.on("close", () => {
    lost = true;
  });
  sub.on("ready", () => {
    // ioredis re-subscribes on its own after a reconnect; whatever was published in
    // between is gone, so local tiers must forget everything.
    if (lost && !bus.closed) {
      lost = false;
      deliver(bus, { type: "reset", reason: "invalidation subscriber reconnected" });
    }
  });
  sub.on("messageBuffer", (_channel: Buffer, payload: Buffer) => onMessage(bus, payload));
  const what = `subscribing to ${bus.parsed === undefined ? "invalidation channel" : redact(bus.parsed.name)}`;
  await withTimeout(
    (async () => {
      await sub.connect();
      await sub.subscribe(bus.channel);
    })(),
    Math.max(bus.timeoutMs * 4, 1000),
    what,
  ).catch((error: unknown) => {
    // Keeps retrying in the background (retryStrategy); a later ready emits reset.
    lost = true;
    reportError(bus, "subscribe", error);
  });
}

const connect = (bus: BusState): Promise<void> => (bus.connecting ??= open(bus));

async function send(bus: BusState, wire: string, attempt: number): Promise<void> {
  if (bus.closed) return;
  try {
    // The subscriber may still be connecting (up to a second): a publish does not wait
    // for it beyond its own deadline; a failure is retried in the background.
    await withTimeout(connect(bus), bus.timeoutMs, "connecting the invalidation bus");
    const publisher = bus.publisher;
    if (publisher === undefined) throw new Error("invalidation publisher is not connected");
    await withTimeout(publisher.publish(bus.channel, wire), bus.timeoutMs, "PUBLISH");
  } catch (error) {
    reportError(bus, "publish", error);
    if (attempt < bus.retries && !bus.closed) {
      const timer = setTimeout(
        () => {
          bus.timers.delete(timer);
          void send(bus, wire, attempt + 1);
        },
        200 * 2 ** attempt,
      );
      timer.unref();
      bus.timers.add(timer);
    }
  }
}

async function close(bus: BusState): Promise<void> {
  if (bus.closed) return;
  bus.closed = true;
  for (const timer of bus.timers) clearTimeout(timer);
  bus.timers.clear();
  bus.listeners.clear();
  await bus.connecting?.catch(() => undefined);
  if (bus.subscriber !== undefined) dispose(bus.subscriber);
  if (bus.publisher !== undefined && bus.options.redis === undefined) dispose(bus.publisher);
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
  const bus = createBusState(options);
  return {
    connect: () => connect(bus),
    subscribe(listener) {
      bus.listeners.add(listener);
      return () => void bus.listeners.delete(listener);
    },
    async publish(message: InvalidationMessage) {
      await send(bus, encodeInvalidation(bus.origin, message), 0);
    },
    close: () => close(bus),
  };
}
