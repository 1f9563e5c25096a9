// The cache tiers and the machine ID: with `cache.redis`, the machine ID is leased in Redis
// (so two live processes never share one) and deletes reach every process over pub/sub.
import { Redis } from "ioredis";
import {
  memoryCache,
  redisInvalidation,
  redisRingCache,
  tieredCache,
  type MediaCache,
  type RedisRingCache,
} from "../cache/index.js";
import { leaseMachineId, type MachineIdLease } from "../ids/index.js";
import type { MediaServerConfig } from "./config-types.js";
import { buildFromConfig } from "./config-values.js";
import type { ServerLogger } from "./logger.js";
import type { ShutdownStack } from "./shutdown.js";

/** @internal */
export interface ServerCache {
  cache: MediaCache;
  /** The lease when Redis is configured: its signal stops ID generation when lost. */
  lease: MachineIdLease | undefined;
  machineId: number;
  /** The Redis ring, whose shard list a config reload replaces. */
  ring?: RedisRingCache | undefined;
}

/** @internal */
export async function createServerCache(
  config: MediaServerConfig,
  shutdown: ShutdownStack,
  logger: ServerLogger,
): Promise<ServerCache> {
  const memory = buildFromConfig("cache.memory", () =>
    memoryCache({ maxBytes: config.cache.memory.maxBytes }),
  );
  const redis = config.cache.redis;
  if (!redis || redis.shards.length === 0) {
    if (config.machineId === undefined) {
      logger.warn(
        "MACHINE_ID is not set: using 0. Give every media-repo process sharing a database a distinct MACHINE_ID (0-1023), or configure cache.redis to lease one.",
      );
    }
    return { cache: memory, lease: undefined, machineId: config.machineId ?? 0 };
  }
  const { shards, ...ringOptions } = redis;
  // Built first: the ring validates the shard URLs before the lease connects to one.
  const ring = buildFromConfig("cache.redis", () => redisRingCache({ shards, ...ringOptions }));
  const lease = await leaseFromRedis(shards[0]!, config, shutdown, logger);
  const tiered = buildFromConfig("cache.redis", () =>
    tieredCache([memory, ring], {
      invalidation: redisInvalidation({ url: shards[0]!, logger }),
    }),
  );
  await tiered.connect();
  shutdown.push(() => tiered.close?.());
  return { cache: tiered, lease, machineId: lease.machineId, ring };
}

/** A shard URL or error text with the URL's password hidden. */
const redact = (text: string) => text.replace(/\/\/[^/@]*@/, "//***@");

async function leaseFromRedis(
  url: string,
  config: MediaServerConfig,
  shutdown: ShutdownStack,
  logger: ServerLogger,
): Promise<MachineIdLease> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  let lastError: Error | undefined;
  client.on("error", (err: Error) => void (lastError = err));
  shutdown.push(() => client.disconnect());
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    // ioredis rejects with "Connection is closed." after a refused AUTH: name the real reason.
    const reason = lastError ?? (err instanceof Error ? err : new Error(String(err)));
    const auth = /NOAUTH|WRONGPASS|AUTH/.test(reason.message)
      ? " (AUTH refused: check the password in the shard URL)"
      : "";
    throw new Error(
      `cache.redis.shards[0] ${redact(url)}: cannot connect${auth}: ${redact(reason.message)}`,
      { cause: err },
    );
  }
  const namespace = config.cache.redis?.namespace;
  const lease = await leaseMachineId(client, {
    ...(config.machineId !== undefined && { machineId: config.machineId }),
    ...(namespace !== undefined && { namespace: `${namespace}:machine-id` }),
    onLost: (reason) =>
      logger.error("machine ID lease lost: uploads stop until restart", {
        reason: reason.message,
      }),
  });
  shutdown.push(() => lease.release());
  return lease;
}
