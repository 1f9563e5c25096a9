// `limits.rateLimit` (in this process or shared through Redis) and `limits.quotas` (per-user
// upload quotas). Each maps onto an option of matrix-media-kit/http.
import { ConfigError } from "../index.js";
import { readBytes, readInt, type ConfigObject } from "./config-values.js";

/** `limits.rateLimit.downloads`: the leaky bucket of download bytes (Redis backend). */
export interface DownloadBucketConfig {
  capacityBytes: number;
  drainBytesPerMinute: number;
  overflowBytes: number;
}

/**
 * `limits.rateLimit`: a token bucket per user (or server, or address) in each process
 * (`backend: "memory"`, the default), or limits shared by every process through Redis
 * (`backend: "redis"`: `limits.rateLimit.redis` URLs, else the `cache.redis.shards`), with a
 * leaky bucket of download bytes. `false` turns it off.
 */
export type RateLimitConfig =
  | false
  | { backend: "memory"; ratePerSecond: number; burst: number }
  | {
      backend: "redis";
      ratePerSecond: number;
      burst: number;
      /** Shard URLs; absent: the cache's shards. */
      redis?: string[];
      downloads: DownloadBucketConfig | false;
      /** `limits.rateLimit.timeoutMs`: longest wait for Redis before counting locally. */
      timeoutMs: number;
    };

/** `limits.quotas`: per-user upload quotas (absent limits are no limit). */
export interface QuotaConfig {
  maxBytes?: number;
  maxFiles?: number;
  maxPending?: number;
  uploadWindows: Array<{ periodMs: number; maxBytes: number }>;
  infoUri?: string;
}

const isObject = (v: unknown): v is ConfigObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function positiveNumber(value: unknown, key: string, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v))
    throw new ConfigError(
      `Expected a positive number for ${key} but received ${JSON.stringify(v)}`,
      {
        option: key,
      },
    );
  return v;
}

function redisUrls(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === "string" ? [value] : value;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.some((u) => typeof u !== "string" || !/^rediss?:\/\//.test(u))
  )
    throw new ConfigError(
      `Expected a redis:// URL or a non-empty list of them for limits.rateLimit.redis but received ${JSON.stringify(value)}`,
      { option: "limits.rateLimit.redis" },
    );
  return list as string[];
}

function resolveDownloads(value: unknown): DownloadBucketConfig | false {
  if (value === false) return false;
  if (value !== undefined && !isObject(value))
    throw new ConfigError(
      "Expected false or { capacityBytes, drainBytesPerMinute, overflowBytes } for limits.rateLimit.downloads",
      { option: "limits.rateLimit.downloads" },
    );
  const o = value ?? {};
  const key = "limits.rateLimit.downloads";
  return {
    capacityBytes: readBytes(o.capacityBytes, `${key}.capacityBytes`, 500 * 1024 ** 2),
    drainBytesPerMinute: readBytes(
      o.drainBytesPerMinute,
      `${key}.drainBytesPerMinute`,
      5 * 1024 ** 2,
    ),
    overflowBytes:
      o.overflowBytes === 0
        ? 0
        : readBytes(o.overflowBytes, `${key}.overflowBytes`, 100 * 1024 ** 2),
  };
}

/**
 * `limits.rateLimit`; `cacheShards` tells whether `cache.redis.shards` can carry a Redis
 * backend without URLs of its own. @internal
 */
export function resolveRateLimit(value: unknown, cacheShards: boolean): RateLimitConfig {
  if (value === false) return false;
  if (value !== undefined && !isObject(value))
    throw new ConfigError("Expected false or { ratePerSecond, burst } for limits.rateLimit", {
      option: "limits.rateLimit",
    });
  const o = value ?? {};
  const ratePerSecond = positiveNumber(o.ratePerSecond, "limits.rateLimit.ratePerSecond", 10);
  const burst = readInt(o.burst, "limits.rateLimit.burst", 50, 1);
  const backend = o.backend ?? "memory";
  if (backend === "memory") return { backend, ratePerSecond, burst };
  if (backend !== "redis")
    throw new ConfigError(
      `Expected "memory" or "redis" for limits.rateLimit.backend but received ${JSON.stringify(backend)}`,
      { option: "limits.rateLimit.backend" },
    );
  const redis = redisUrls(o.redis);
  if (!redis && !cacheShards)
    throw new ConfigError(
      'limits.rateLimit.backend "redis" needs limits.rateLimit.redis or cache.redis.shards',
      { option: "limits.rateLimit.redis" },
    );
  return {
    backend,
    ratePerSecond,
    burst,
    ...(redis && { redis }),
    downloads: resolveDownloads(o.downloads),
    timeoutMs: readInt(o.timeoutMs, "limits.rateLimit.timeoutMs", 250, 1),
  };
}

function resolveWindows(value: unknown): QuotaConfig["uploadWindows"] {
  if (value === undefined) return [];
  const key = "limits.quotas.uploadWindows";
  if (!Array.isArray(value))
    throw new ConfigError(
      `Expected a list of { periodMs, maxBytes } for ${key} but received ${JSON.stringify(value)}`,
      {
        option: key,
      },
    );
  return value.map((w: unknown, i) => {
    if (!isObject(w))
      throw new ConfigError(`Expected { periodMs, maxBytes } for ${key}[${i}]`, {
        option: `${key}[${i}]`,
      });
    const periodMs = readInt(w.periodMs, `${key}[${i}].periodMs`, 0, 1000);
    if (periodMs % 1000 !== 0)
      throw new ConfigError(
        `Expected a whole number of seconds (in ms) for ${key}[${i}].periodMs but received ${periodMs}`,
        { option: `${key}[${i}].periodMs` },
      );
    if (w.maxBytes === undefined)
      throw new ConfigError(`${key}[${i}].maxBytes is required`, {
        option: `${key}[${i}].maxBytes`,
      });
    return { periodMs, maxBytes: readBytes(w.maxBytes, `${key}[${i}].maxBytes`, 0) };
  });
}

/** `limits.quotas`: `undefined` when absent. @internal */
export function resolveQuotas(value: unknown): QuotaConfig | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value))
    throw new ConfigError(
      "Expected { maxBytes, maxFiles, maxPending, uploadWindows } for limits.quotas",
      {
        option: "limits.quotas",
      },
    );
  const out: QuotaConfig = { uploadWindows: resolveWindows(value.uploadWindows) };
  if (value.maxBytes !== undefined)
    out.maxBytes = readBytes(value.maxBytes, "limits.quotas.maxBytes", 0);
  for (const name of ["maxFiles", "maxPending"] as const) {
    if (value[name] !== undefined) out[name] = readInt(value[name], `limits.quotas.${name}`, 0, 0);
  }
  if (value.infoUri !== undefined) {
    if (typeof value.infoUri !== "string" || !/^https?:\/\//.test(value.infoUri))
      throw new ConfigError(
        `Expected an http(s) URL for limits.quotas.infoUri but received ${JSON.stringify(value.infoUri)}`,
        { option: "limits.quotas.infoUri" },
      );
    out.infoUri = value.infoUri;
  }
  return out;
}
