// Where verified server keys are kept: in process (a bounded LRU by server) or in a shared
// MediaCache (a Redis ring), so every process of a deployment fetches a key once.
import { ConfigError } from "../errors.js";
import type { MediaCache } from "../cache/types.js";
import { integerOption } from "./errors.js";

/** A verified public key of a remote server. */
export interface StoredKey {
  /** `ed25519:<version>`. */
  keyId: string;
  /** The public key, unpadded Base64. */
  publicKey: string;
  /** Until when (ms since the epoch) the key may be used. */
  validUntilTs: number;
  /** For keys from `old_verify_keys`: when the server stopped using the key. */
  expiredTs?: number | undefined;
}

/**
 * The key-store contract: what {@link createKeyFetcher} reads first and fills after a
 * verified fetch.
 */
export interface KeyStore {
  /** The stored key, if any (expired or not: the caller checks validity). */
  get(serverName: string, keyId: string): Promise<StoredKey | undefined>;
  /** Stores keys of one server, replacing those with the same IDs. */
  put(serverName: string, keys: StoredKey[]): Promise<void>;
}

/** Options of {@link memoryKeyStore}. */
export interface MemoryKeyStoreOptions {
  /** Servers kept; the least recently used is evicted past it. */
  maxServers: number;
  /** Keys kept per server (the newest replace the oldest). @defaultValue 16 */
  maxKeysPerServer?: number;
}

/** @internal The instant a stored key stops being usable. */
export function keyUsableUntil(key: StoredKey): number {
  return key.expiredTs === undefined ? key.validUntilTs : Math.min(key.expiredTs, key.validUntilTs);
}

/**
 * An in-process key store, an LRU bounded by the number of servers.
 *
 * @example
 * ```ts
 * const store = memoryKeyStore({ maxServers: 10_000 });
 * ```
 */
export function memoryKeyStore(options: MemoryKeyStoreOptions): KeyStore {
  const maxServers = integerOption(options?.maxServers, "maxServers", 1);
  const maxKeys = integerOption(options?.maxKeysPerServer ?? 16, "maxKeysPerServer", 1);
  const servers = new Map<string, Map<string, StoredKey>>();
  return {
    async get(serverName, keyId) {
      const keys = servers.get(serverName);
      if (keys === undefined) return undefined;
      servers.delete(serverName);
      servers.set(serverName, keys);
      return keys.get(keyId);
    },
    async put(serverName, keys) {
      const existing = servers.get(serverName) ?? new Map<string, StoredKey>();
      servers.delete(serverName);
      for (const key of keys) {
        existing.delete(key.keyId);
        existing.set(key.keyId, { ...key });
        if (existing.size > maxKeys) existing.delete(existing.keys().next().value!);
      }
      servers.set(serverName, existing);
      while (servers.size > maxServers) servers.delete(servers.keys().next().value!);
    },
  };
}

/** Options of {@link cacheKeyStore}. */
export interface CacheKeyStoreOptions {
  /** Prefix of the cache keys. @defaultValue `"mmk:fedkey:"` */
  prefix?: string;
  /** Clock for entry lifetimes. @defaultValue `Date.now` */
  now?: () => number;
}

function parseStored(buffer: Buffer, keyId: string): StoredKey | undefined {
  let value: unknown;
  try {
    value = JSON.parse(buffer.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.keyId !== keyId || typeof v.publicKey !== "string") return undefined;
  if (typeof v.validUntilTs !== "number") return undefined;
  if (v.expiredTs !== undefined && typeof v.expiredTs !== "number") return undefined;
  return {
    keyId,
    publicKey: v.publicKey,
    validUntilTs: v.validUntilTs,
    ...(v.expiredTs === undefined ? {} : { expiredTs: v.expiredTs }),
  };
}

/**
 * A key store over a {@link MediaCache} (typically a Redis ring), so every process shares
 * the keys one of them fetched. Each entry lives until its key stops being valid; a key
 * already past it is not stored. A cache failure is a miss, as for media.
 *
 * @example
 * ```ts
 * const store = cacheKeyStore(redisRingCache({ shards: ["redis://127.0.0.1:6379"] }));
 * ```
 */
export function cacheKeyStore(cache: MediaCache, options: CacheKeyStoreOptions = {}): KeyStore {
  const prefix = options.prefix ?? "mmk:fedkey:";
  if (typeof prefix !== "string") {
    throw new ConfigError(`Expected a string for prefix but received ${typeof prefix}`, {
      option: "prefix",
    });
  }
  const now = options.now ?? Date.now;
  // Server names never contain "/", so it separates the name from the key ID unambiguously.
  const cacheKey = (serverName: string, keyId: string) => `${prefix}${serverName}/${keyId}`;
  return {
    async get(serverName, keyId) {
      const buffer = await cache.get(cacheKey(serverName, keyId));
      return buffer === undefined ? undefined : parseStored(buffer, keyId);
    },
    async put(serverName, keys) {
      const at = now();
      await Promise.all(
        keys.map(async (key) => {
          const ttlMs = keyUsableUntil(key) - at;
          if (ttlMs <= 0) return;
          const body = Buffer.from(JSON.stringify(key), "utf8");
          await cache.set(cacheKey(serverName, key.keyId), body, { ttlMs });
        }),
      );
    },
  };
}
