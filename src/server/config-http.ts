// The HTTP-facing parts of the config: socket timeouts, request bounds, rate limits, query
// tokens and the legacy freeze. Each maps onto an option of matrix-media-kit/http.
import { ConfigError } from "../index.js";
import { readBool, readInt, type ConfigObject } from "./config-values.js";
import {
  resolveQuotas,
  resolveRateLimit,
  type QuotaConfig,
  type RateLimitConfig,
} from "./config-quota.js";

/** How the handler and the listening socket bound requests. */
export interface HttpConfig {
  /** `listen.headersTimeoutMs`, `listen.requestTimeoutMs`, `listen.keepAliveTimeoutMs`. */
  server: { headersTimeoutMs?: number; requestTimeoutMs?: number; keepAliveTimeoutMs?: number };
  /** `limits.uploadIdleTimeoutMs`. */
  uploadIdleTimeoutMs?: number;
  /** `limits.writeStallTimeoutMs`. */
  writeStallTimeoutMs?: number;
  /** `limits.maxConcurrentUploadsPerUser`. */
  maxConcurrentUploadsPerUser?: number;
  /** `limits.rateLimit`: per user (or server, or address), in each process or through Redis. */
  rateLimit: RateLimitConfig;
  /** `limits.quotas`: per-user upload quotas; absent: none. */
  quotas?: QuotaConfig;
  /** `auth.allowQueryToken` (MSC4127 removes query-string tokens). */
  allowQueryToken: boolean;
  /**
   * `freezeLegacy`: `true` freezes every media on the unauthenticated legacy routes, `false`
   * none, a date (or ms since the epoch) media created from then on; by default media created
   * after this process started.
   */
  freezeLegacy: boolean | { after: number } | "startup";
}

const optionalInt = (o: ConfigObject, name: string, key: string, min: number) =>
  o[name] === undefined ? {} : { [name]: readInt(o[name], `${key}.${name}`, 0, min) };

function resolveFreeze(value: unknown): HttpConfig["freezeLegacy"] {
  if (value === undefined) return "startup";
  if (typeof value === "boolean") return readBool(value, "freezeLegacy", false);
  const after =
    typeof value === "number"
      ? value
      : typeof value === "string"
        ? Date.parse(value)
        : value instanceof Date
          ? value.getTime()
          : Number.NaN;
  if (!Number.isSafeInteger(after) || after < 0)
    throw new ConfigError(
      `Expected true, false or a date for freezeLegacy but received ${JSON.stringify(value)}`,
      { option: "freezeLegacy" },
    );
  return { after };
}

const hasCacheShards = (c: ConfigObject): boolean => {
  const redis = (c.cache as { redis?: { shards?: unknown } } | undefined)?.redis;
  return Array.isArray(redis?.shards) && redis.shards.length > 0;
};

/** @internal */
export function resolveHttp(
  c: ConfigObject,
  listen: ConfigObject,
  limits: ConfigObject,
  auth: ConfigObject,
): HttpConfig {
  return {
    server: {
      ...optionalInt(listen, "headersTimeoutMs", "listen", 1),
      ...optionalInt(listen, "requestTimeoutMs", "listen", 1),
      ...optionalInt(listen, "keepAliveTimeoutMs", "listen", 1),
    },
    ...optionalInt(limits, "uploadIdleTimeoutMs", "limits", 1),
    ...optionalInt(limits, "writeStallTimeoutMs", "limits", 1),
    ...optionalInt(limits, "maxConcurrentUploadsPerUser", "limits", 1),
    rateLimit: resolveRateLimit(limits.rateLimit, hasCacheShards(c)),
    ...(limits.quotas !== undefined && { quotas: resolveQuotas(limits.quotas) }),
    allowQueryToken: readBool(auth.allowQueryToken, "auth.allowQueryToken", true),
    freezeLegacy: resolveFreeze(c.freezeLegacy),
  };
}
