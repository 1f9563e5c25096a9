// Checks shared by every cache: factory options (a ConfigError naming the option) and the
// arguments of get/set/delete (a TypeError or RangeError: bad input, not bad configuration).
import { ConfigError } from "../errors.js";
import type { CacheSetOptions } from "./types.js";

const describe = (value: unknown): string =>
  typeof value === "number" ? String(value) : (JSON.stringify(value) ?? typeof value);

const isCount = (value: unknown, allowZero: boolean): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= (allowZero ? 0 : 1);

const countMessage = (value: unknown, what: string, allowZero: boolean): string =>
  `Expected ${allowZero ? "a non-negative" : "a positive"} integer for ${what} but received ${describe(value)}`;

/**
 * @internal
 * A factory option that must be a positive (or, with `allowZero`, non-negative) integer:
 * `integerOption(0, "memoryCache", "maxBytes")` throws a ConfigError "Expected a positive
 * integer for memoryCache maxBytes but received 0".
 */
export function integerOption(
  value: unknown,
  factory: string,
  option: string,
  allowZero = false,
): number {
  if (!isCount(value, allowZero)) {
    throw new ConfigError(countMessage(value, `${factory} ${option}`, allowZero), { option });
  }
  return value;
}

/** @internal */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(
      `Expected a non-empty string cache key but received ${JSON.stringify(key)}`,
    );
  }
}

/** @internal */
export function checkSet(key: unknown, value: unknown, options: CacheSetOptions | undefined): void {
  checkKey(key);
  if (!Buffer.isBuffer(value))
    throw new TypeError(`Expected a Buffer value for cache key "${key}"`);
  const ttlMs = options?.ttlMs;
  if (ttlMs !== undefined && !isCount(ttlMs, false))
    throw new RangeError(countMessage(ttlMs, "ttlMs", false));
}
