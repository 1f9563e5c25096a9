// Federation in the standalone server: the coordinator every process of a deployment shares
// (Redis when configured, else PostgreSQL, else this process), the signing key, and the
// remote media options of the repository.
import { readFile } from "node:fs/promises";
import type { MediaCache } from "../cache/index.js";
import {
  memoryCoordinator,
  postgresCoordinator,
  redisCoordinator,
  type Coordinator,
} from "../coordination/index.js";
import {
  cacheKeyStore,
  createFederation,
  loadSigningKey,
  type Federation,
} from "../federation/index.js";
import { ConfigError, type RemoteMediaOptions } from "../index.js";
import type { MediaServerConfig } from "./config-types.js";
import { buildFromConfig } from "./config-values.js";
import type { ServerLogger } from "./logger.js";
import type { ShutdownStack } from "./shutdown.js";

/** @internal */
export interface ServerFederation {
  coordinator: Coordinator;
  federation: Federation | undefined;
  /** The repository's `remote` option when federation is enabled. */
  remote: RemoteMediaOptions | undefined;
}

function createCoordinator(config: MediaServerConfig, logger: ServerLogger): Coordinator {
  const shards = config.cache.redis?.shards ?? [];
  if (shards.length > 0) {
    return buildFromConfig("cache.redis", () =>
      redisCoordinator({
        shards,
        ...(config.cache.redis?.namespace && {
          namespace: `${config.cache.redis.namespace}:coord`,
        }),
        // One bound for every Redis command of the process: past it the cache misses and
        // the coordinator fails open to a local lock.
        ...(config.cache.redis?.commandTimeoutMs !== undefined && {
          commandTimeoutMs: config.cache.redis.commandTimeoutMs,
        }),
        logger,
      }),
    );
  }
  if (config.metadata.postgres) {
    return buildFromConfig("metadata.postgres", () =>
      postgresCoordinator({ url: config.metadata.postgres!, logger }),
    );
  }
  return memoryCoordinator();
}

/** @internal */
export async function createServerFederation(
  config: MediaServerConfig,
  cache: MediaCache,
  shutdown: ShutdownStack,
  logger: ServerLogger,
): Promise<ServerFederation> {
  const coordinator = createCoordinator(config, logger);
  shutdown.push(() => coordinator.close());
  const f = config.federation;
  if (!f.enabled) return { coordinator, federation: undefined, remote: undefined };
  const signingKey = await loadSigningKey(f.signingKeyPath!).catch((err: unknown) => {
    throw new ConfigError(`federation.signingKeyPath: ${(err as Error).message}`, {
      option: "federation.signingKeyPath",
      cause: err,
    });
  });
  const ca = f.caFile ? await readFile(f.caFile) : undefined;
  const federation = buildFromConfig("federation", () =>
    createFederation({
      serverName: config.serverName,
      signingKey,
      // Keys of other servers are shared by every process through the cache (Redis ring).
      keyStore: cacheKeyStore(cache),
      trustedKeyServers: f.trustedKeyServers,
      legacyFallback: f.legacyFallback,
      client: {
        ...(f.allowRanges && { allowRanges: f.allowRanges }),
        ...(f.denyRanges && { denyRanges: f.denyRanges }),
        ...(ca && { tls: { ca } }),
        ...(f.timeoutMs !== undefined && { timeoutMs: f.timeoutMs }),
        ...(f.maxRemoteBytes !== undefined && { maxBytes: f.maxRemoteBytes }),
      },
      logger,
    }),
  );
  shutdown.push(() => federation.close());
  const remote: RemoteMediaOptions = {
    source: federation.mediaSource,
    coordinator,
    ...(f.maxRemoteBytes !== undefined && { maxBytes: f.maxRemoteBytes }),
    ...(f.timeoutMs !== undefined && { timeoutMs: f.timeoutMs }),
  };
  return { coordinator, federation, remote };
}
