// The Redis side of redisCoordinator: one command connection and one subscriber per shard,
// locks and topics placed on a shard by name with the HashRing, and three Lua scripts.
import type { Redis, RedisOptions } from "ioredis";
import { HashRing } from "../cache/hash-ring.js";
import { FAIL_FAST, dispose, loadIoredis, withTimeout } from "../cache/redis-client.js";
import type { CoordinationBackend } from "./backend.js";
import type { CoordinationLogger } from "./options.js";

// SET NX PX, and only when it succeeds a new generation from one counter per namespace. The
// counter never falls below the server's clock in microseconds, so generations keep growing
// even after a Redis without persistence restarts empty (unless its clock steps back).
const TAKE = `
if not redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then return 0 end
local t = redis.call("TIME")
local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
local g = redis.call("INCR", KEYS[2])
if g < floor then
  redis.call("SET", KEYS[2], string.format("%d", floor))
  g = floor
end
return g`;
// Token-checked: a holder never extends or deletes a lock that has changed hands.
const RENEW = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;

/** @internal Where one shard is: a URL's options (connections owned) or an injected client. */
export type RedisShardSource =
  { name: string; options: RedisOptions } | { name: string; client: Redis };

interface Shard {
  readonly source: RedisShardSource;
  client: Promise<Redis> | undefined;
  subscriber: Redis | undefined;
}

/** @internal */
export interface RedisBackendConfig {
  shards: RedisShardSource[];
  namespace: string;
  redisOptions: RedisOptions | undefined;
  commandTimeoutMs: number;
  logger: CoordinationLogger | undefined;
}

const backoff = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000);

interface SubscribeEnv {
  channel: string;
  commandTimeoutMs: number;
  closed: () => boolean;
  target: (options: RedisOptions) => RedisOptions;
  quiet: (what: string) => (error: Error) => void;
}

/** Subscribes one shard's connection to the wake-up channel (once; ioredis retries it). */
async function subscribe(
  env: SubscribeEnv,
  shard: Shard,
  onMessage: (payload: Buffer) => void,
  onGap: () => void,
): Promise<void> {
  const { source } = shard;
  if (shard.subscriber !== undefined) return; // already subscribing, retried by ioredis
  // The SUBSCRIBE waits in the offline queue until connected, however long that takes.
  const resilient = {
    lazyConnect: true,
    retryStrategy: backoff,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
  };
  let subscriber: Redis;
  if ("client" in source) {
    subscriber = source.client.duplicate(resilient);
  } else {
    const { Redis: RedisClass } = await loadIoredis();
    subscriber = new RedisClass({
      ...env.target(source.options),
      ...resilient,
      connectionName: "mmk-coordination-sub",
    });
  }
  if (env.closed() || shard.subscriber !== undefined) return;
  shard.subscriber = subscriber;
  subscriber.on("error", env.quiet("subscriber"));
  let lost = false;
  subscriber.on("close", () => (lost = true));
  subscriber.on("ready", () => {
    // ioredis subscribes again by itself; what was published meanwhile is gone.
    if (lost && !env.closed()) onGap();
    lost = false;
  });
  subscriber.on("messageBuffer", (_channel: Buffer, payload: Buffer) => onMessage(payload));
  subscriber.connect().catch(() => undefined);
  await withTimeout(
    subscriber.subscribe(env.channel),
    Math.max(env.commandTimeoutMs * 4, 1000),
    "redis coordinator subscribe",
  ).catch((error: unknown) => {
    // Still queued and retried in the background; the next ready counts as a gap.
    lost = true;
    throw error;
  });
}

/** @internal */
export function redisBackend(config: RedisBackendConfig): CoordinationBackend {
  const { namespace, logger } = config;
  const shards = new Map<string, Shard>(
    config.shards.map((source) => [
      source.name,
      { source, client: undefined, subscriber: undefined },
    ]),
  );
  // Built from the list itself, so a repeated URL is refused rather than merged.
  const ring = new HashRing(config.shards.map((source) => source.name));
  const channel = `${namespace}:wake`;
  const counterKey = `${namespace}:generation`;
  const lockKey = (name: string) => `${namespace}:lock:${name}`;
  let closed = false;

  const quiet = (what: string) => (error: Error) =>
    logger?.debug?.(`redis coordinator ${what} error`, { error });
  const shardOf = (name: string): Shard => shards.get(ring.shardFor(name)!)!;
  const target = (options: RedisOptions): RedisOptions => ({
    ...config.redisOptions,
    ...options,
    tls: options.tls === undefined ? undefined : { ...config.redisOptions?.tls, ...options.tls },
  });

  const clientOf = (shard: Shard): Promise<Redis> =>
    (shard.client ??= (async () => {
      const { source } = shard;
      if ("client" in source) return source.client;
      const { Redis: RedisClass } = await loadIoredis();
      if (closed) throw new Error("redis coordinator is closed");
      // Reconnects in the background, but never queues or replays a command: a take that
      // timed out must not land later behind our back.
      const client = new RedisClass({
        ...target(source.options),
        ...FAIL_FAST,
        retryStrategy: backoff,
        connectionName: "mmk-coordination",
      });
      client.on("error", quiet("command connection"));
      await client.connect().catch(() => undefined);
      return client;
    })());

  const env: SubscribeEnv = {
    channel,
    commandTimeoutMs: config.commandTimeoutMs,
    closed: () => closed,
    target,
    quiet,
  };

  return {
    prepare: async () => void (await loadIoredis()),
    async take(name, token, ttlMs) {
      const client = await clientOf(shardOf(name));
      const generation = await client.eval(TAKE, 2, lockKey(name), counterKey, token, ttlMs);
      return generation === 0 ? undefined : Number(generation);
    },
    async renew(name, token, ttlMs) {
      const client = await clientOf(shardOf(name));
      return (await client.eval(RENEW, 1, lockKey(name), token, ttlMs)) === 1;
    },
    async release(name, token) {
      const client = await clientOf(shardOf(name));
      await client.eval(RELEASE, 1, lockKey(name), token);
    },
    async publish(topic, payload) {
      const client = await clientOf(shardOf(topic));
      await client.publish(channel, payload);
    },
    async listen(onMessage, onGap) {
      const results = await Promise.allSettled(
        [...shards.values()].map((shard) => subscribe(env, shard, onMessage, onGap)),
      );
      for (const result of results) if (result.status === "rejected") throw result.reason;
    },
    async close() {
      closed = true;
      for (const shard of shards.values()) {
        if (shard.subscriber !== undefined) dispose(shard.subscriber);
        if ("client" in shard.source) continue;
        const client = await shard.client?.catch(() => undefined);
        if (client !== undefined) dispose(client);
      }
    },
  };
}
