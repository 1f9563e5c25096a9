// The errors of the SSRF guard: one class with a `reason`, a client-safe message per reason,
// and a diagnostics message for every refusal.
import { channel } from "node:diagnostics_channel";
import { MediaError } from "../errors.js";
import type { MatrixErrcode } from "../errors.js";

/** Why a {@link SafeFetchError} was raised. */
export type SafeFetchFailure =
  /** A resolved address (or an IP literal) is in a denied range. */
  | "address-denied"
  /** The URL (or a redirect target) is not http(s). */
  | "scheme"
  /** The call's `allowUrl` refused the URL (or a redirect target). */
  | "url-blocked"
  /** More redirects than `maxRedirects`. */
  | "too-many-redirects"
  /** The body (or its Content-Length) exceeds the byte cap. */
  | "too-large"
  /** The overall deadline passed. */
  | "timeout"
  /** The name did not resolve. */
  | "dns"
  /** Any other connection or protocol failure. */
  | "network";

const FAILURES: Record<
  SafeFetchFailure,
  { errcode: MatrixErrcode; status: number; message: string }
> = {
  "address-denied": {
    errcode: "M_FORBIDDEN",
    status: 403,
    message: "Refused to fetch the URL: its host is not allowed",
  },
  scheme: {
    errcode: "M_FORBIDDEN",
    status: 403,
    message: "Refused to fetch the URL: only http and https are allowed",
  },
  "url-blocked": {
    errcode: "M_FORBIDDEN",
    status: 403,
    message: "Refused to fetch the URL: it is blocked",
  },
  "too-many-redirects": {
    errcode: "M_UNKNOWN",
    status: 502,
    message: "Refused to fetch the URL: too many redirects",
  },
  "too-large": {
    errcode: "M_TOO_LARGE",
    status: 502,
    message: "The remote content is larger than allowed",
  },
  timeout: { errcode: "M_UNKNOWN", status: 504, message: "Timed out fetching the URL" },
  dns: { errcode: "M_UNKNOWN", status: 502, message: "Could not resolve the URL's host" },
  network: { errcode: "M_UNKNOWN", status: 502, message: "Could not fetch the URL" },
};

/**
 * The {@link MediaError} every refusal or failure of a {@link SafeFetch} raises. Its message
 * is safe for clients (no resolved addresses, no internal hosts); `reason` lets callers branch.
 *
 * | reason | errcode | status |
 * |---|---|---|
 * | `address-denied`, `scheme`, `url-blocked` | `M_FORBIDDEN` | 403 |
 * | `too-large` | `M_TOO_LARGE` | 502 |
 * | `timeout` | `M_UNKNOWN` | 504 |
 * | `too-many-redirects`, `dns`, `network` | `M_UNKNOWN` | 502 |
 *
 * @example
 * ```ts
 * try {
 *   await safeFetch("http://169.254.169.254/");
 * } catch (error) {
 *   if (error instanceof SafeFetchError && error.reason === "address-denied") console.log(error.status); // 403
 * }
 * ```
 */
export class SafeFetchError extends MediaError {
  /** Why the request failed. */
  readonly reason: SafeFetchFailure;

  constructor(reason: SafeFetchFailure, options: { cause?: unknown; message?: string } = {}) {
    const f = FAILURES[reason];
    super(f.errcode, options.message ?? f.message, { status: f.status, cause: options.cause });
    this.name = "MediaError";
    this.reason = reason;
  }
}

/** Diagnostics channel: `{ hostname, reason }` when the guard refuses. */
export const SAFE_FETCH_REFUSED_CHANNEL = "matrix-media-kit:safe-fetch:refused";
const refusedChannel = channel(SAFE_FETCH_REFUSED_CHANNEL);

/** A refusal, published on the refused channel. @internal */
export function refuse(
  hostname: string,
  reason: SafeFetchFailure,
  cause?: unknown,
): SafeFetchError {
  if (refusedChannel.hasSubscribers) refusedChannel.publish({ hostname, reason });
  return new SafeFetchError(reason, { cause });
}
