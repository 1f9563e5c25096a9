// The one error class of the federation authentication primitives: a stable `reason` callers
// branch on. Request verification turns every one of them into `401 M_UNAUTHORIZED`.
import { ConfigError } from "../errors.js";

/** @internal An integer option at least `min`, or a ConfigError naming it. */
export function integerOption(value: unknown, option: string, min: 0 | 1): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    const what = min === 0 ? "a non-negative integer" : "a positive integer";
    throw new ConfigError(`Expected ${what} for ${option} but received ${String(value)}`, {
      option,
    });
  }
  return value;
}

/** Why a federation authentication step failed. */
export type FederationErrorReason =
  /** An `Authorization` header that is not a well-formed `X-Matrix` credential. */
  | "bad_header"
  /** A signing-key file that cannot be read (the message names the line). */
  | "bad_key_file"
  /** A key server's answer that is not the JSON the spec describes, or is too large. */
  | "bad_key_response"
  /** A key server answered for another server name than the one asked. */
  | "wrong_server_name"
  /** A signature that is missing or does not verify. */
  | "bad_signature"
  /** A key server or notary could not be reached. */
  | "unreachable";

/**
 * A federation authentication failure with a stable {@link FederationErrorReason}.
 *
 * @example
 * ```ts
 * try {
 *   parseXMatrix(header);
 * } catch (err) {
 *   if (FederationError.is(err) && err.reason === "bad_header") console.warn(err.message);
 * }
 * ```
 */
export class FederationError extends Error {
  /** What went wrong, for callers that branch. */
  readonly reason: FederationErrorReason;

  constructor(reason: FederationErrorReason, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "FederationError";
    this.reason = reason;
  }

  /** True when `value` is a {@link FederationError}, also across duplicated copies of the package. */
  static is(value: unknown): value is FederationError {
    return (
      value instanceof FederationError ||
      (value instanceof Error &&
        value.name === "FederationError" &&
        typeof (value as { reason?: unknown }).reason === "string")
    );
  }
}
