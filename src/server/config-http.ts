// The HTTP-facing parts of the config: socket timeouts, request bounds, rate limits, query
// tokens and the legacy freeze. Each maps onto an option of matrix-media-kit/http.
import { ConfigError } from "../index.js";
import { readBool, readInt, type ConfigObject } from "./config-values.js";

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
  /** `limits.rateLimit`: per user (or address) token bucket in each process; `false` turns it off. */
  rateLimit: false | { ratePerSecond: number; burst: number };
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

function resolveRateLimit(value: unknown): HttpConfig["rateLimit"] {
  if (value === false) return false;
  if (value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value)))
    throw new ConfigError("Expected false or { ratePerSecond, burst } for limits.rateLimit", {
      option: "limits.rateLimit",
    });
  const o = (value ?? {}) as ConfigObject;
  const ratePerSecond = o.ratePerSecond ?? 10;
  if (typeof ratePerSecond !== "number" || !(ratePerSecond > 0) || !Number.isFinite(ratePerSecond))
    throw new ConfigError(
      `Expected a positive number for limits.rateLimit.ratePerSecond but received ${JSON.stringify(ratePerSecond)}`,
      { option: "limits.rateLimit.ratePerSecond" },
    );
  return { ratePerSecond, burst: readInt(o.burst, "limits.rateLimit.burst", 50, 1) };
}

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
    rateLimit: resolveRateLimit(limits.rateLimit),
    allowQueryToken: readBool(auth.allowQueryToken, "auth.allowQueryToken", true),
    freezeLegacy: resolveFreeze(c.freezeLegacy),
  };
}
