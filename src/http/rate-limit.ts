// A token-bucket rate limiter for the handler's `rateLimit` hook, in process memory. Limits
// shared by every process of a deployment need a shared store (Redis); this one bounds what a
// single process accepts from one user, address or server.
import { LRUCache } from "lru-cache";
import { ConfigError } from "../errors.js";
import type { RateLimitContext } from "./options.js";

/** Options of {@link tokenBucketRateLimit}. */
export interface TokenBucketOptions {
  /** Tokens added per second: the sustained request rate per key. @defaultValue 10 */
  ratePerSecond?: number;
  /** Bucket size: how many requests a key may make at once after idling. @defaultValue 50 */
  burst?: number;
  /** Keys remembered (least recently used are forgotten, i.e. refilled). @defaultValue 100000 */
  maxKeys?: number;
  /**
   * What is limited. `undefined` exempts the request.
   * @defaultValue the user ID when authenticated, else `server:<name>` for federation, else `ip:<address>`
   */
  key?: (context: RateLimitContext) => string | undefined;
  /** Clock in milliseconds (tests inject one). @defaultValue `performance.now` */
  now?: () => number;
}

/** The defaults of {@link tokenBucketRateLimit}. */
export const DEFAULT_TOKEN_BUCKET_OPTIONS = Object.freeze({
  /** @defaultValue 10 */
  ratePerSecond: 10,
  /** @defaultValue 50 */
  burst: 50,
  /** @defaultValue 100000 */
  maxKeys: 100_000,
});

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The default key of {@link tokenBucketRateLimit}: the user when authenticated, else the
 * requesting server (federation), else the peer address.
 *
 * @example
 * ```ts
 * // Exempt admins, key everyone else as usual.
 * tokenBucketRateLimit({ key: (c) => (c.user?.isAdmin ? undefined : defaultRateLimitKey(c)) });
 * ```
 */
export function defaultRateLimitKey(context: RateLimitContext): string | undefined {
  if (context.user) return `user:${context.user.userId}`;
  if (context.server !== undefined) return `server:${context.server}`;
  return context.ip === undefined ? undefined : `ip:${context.ip}`;
}

function positive(name: string, value: number, integer: boolean): number {
  if (!(Number.isFinite(value) && value > 0 && (!integer || Number.isSafeInteger(value)))) {
    throw new ConfigError(
      `tokenBucketRateLimit: expected options.${name} to be a positive ${integer ? "integer" : "number"} but received ${String(value)}`,
      { option: name },
    );
  }
  return value;
}

/**
 * A `rateLimit` hook for {@link createMediaHandler}: each key (user, server or address) has a
 * bucket of `burst` tokens refilled at `ratePerSecond`; a request takes one, and an empty
 * bucket answers with the milliseconds until the next token, which the handler sends as
 * `429 M_LIMIT_EXCEEDED` with `Retry-After` and `retry_after_ms`.
 *
 * @example
 * ```ts
 * import { createMediaHandler, tokenBucketRateLimit } from "matrix-media-kit/http";
 * const handler = createMediaHandler(repo, {
 *   authenticate,
 *   rateLimit: tokenBucketRateLimit({ ratePerSecond: 5, burst: 20 }),
 * });
 * ```
 */
export function tokenBucketRateLimit(
  options: TokenBucketOptions = {},
): (context: RateLimitContext) => number | undefined {
  const d = DEFAULT_TOKEN_BUCKET_OPTIONS;
  const rate = positive("ratePerSecond", options.ratePerSecond ?? d.ratePerSecond, false) / 1000;
  const burst = positive("burst", options.burst ?? d.burst, true);
  const maxKeys = positive("maxKeys", options.maxKeys ?? d.maxKeys, true);
  if (options.key !== undefined && typeof options.key !== "function") {
    throw new ConfigError("tokenBucketRateLimit: expected options.key to be a function", {
      option: "key",
    });
  }
  const keyOf = options.key ?? defaultRateLimitKey;
  const now = options.now ?? (() => performance.now());
  const buckets = new LRUCache<string, Bucket>({ max: maxKeys });
  return (context) => {
    const key = keyOf(context);
    if (key === undefined) return undefined;
    const at = now();
    const bucket = buckets.get(key) ?? { tokens: burst, at };
    bucket.tokens = Math.min(burst, bucket.tokens + (at - bucket.at) * rate);
    bucket.at = at;
    buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.ceil((1 - bucket.tokens) / rate);
  };
}
