// `GET https://<hostname>/.well-known/matrix/server` and how long its answer is kept: the
// response's Cache-Control / Expires within [5 min, 48 h], 24 h without them, and 1 h for
// any failure (network error, non-200, bad JSON, a missing or invalid `m.server`).
import { isValidServerName } from "../ids/validate.js";
import type { SafeFetch } from "../preview/safe-fetch-options.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Cache periods of well-known answers, in ms. @internal */
export const WELL_KNOWN_CACHE = Object.freeze({
  /** Without Cache-Control or Expires (the spec's recommendation). */
  defaultMs: 24 * HOUR,
  /** Upper bound, whatever the headers say (the spec's recommendation). */
  maxMs: 48 * HOUR,
  /** Lower bound, so `max-age=0` or `no-store` cannot make every request re-fetch it. */
  minMs: 5 * MINUTE,
  /** Failures: the spec recommends "up to an hour"; Synapse also uses about an hour. */
  errorMs: HOUR,
});

/** What a well-known lookup found. @internal */
export interface WellKnownAnswer {
  /** The validated delegated server name, or undefined when there is no usable answer. */
  server: string | undefined;
  /** How long to keep this answer. */
  cacheMs: number;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/** The cache period a response asks for, before the bounds are applied. */
function requestedCacheMs(
  headers: Record<string, string | string[] | undefined>,
  now: number,
): number | undefined {
  const cacheControl = headerValue(headers["cache-control"])?.toLowerCase();
  if (cacheControl !== undefined) {
    if (/(^|[\s,])(no-store|no-cache)([\s,=]|$)/.test(cacheControl)) return 0;
    const maxAge = /(?:^|[\s,])max-age\s*=\s*"?(\d{1,12})"?/.exec(cacheControl);
    if (maxAge !== null) return Number(maxAge[1]) * 1000;
  }
  const expires = headerValue(headers.expires);
  if (expires !== undefined) {
    const at = Date.parse(expires);
    return Number.isNaN(at) ? 0 : Math.max(0, at - now);
  }
  return undefined;
}

/** The bounded cache period of a successful answer. @internal */
export function wellKnownCacheMs(
  headers: Record<string, string | string[] | undefined>,
  now: number,
): number {
  const requested = requestedCacheMs(headers, now) ?? WELL_KNOWN_CACHE.defaultMs;
  return Math.min(WELL_KNOWN_CACHE.maxMs, Math.max(WELL_KNOWN_CACHE.minMs, requested));
}

/** Options of one well-known lookup. @internal */
export interface WellKnownRequest {
  fetch: SafeFetch;
  hostname: string;
  port: number;
  timeoutMs: number;
  maxBytes: number;
  now: () => number;
  signal?: AbortSignal;
}

/**
 * Fetches and validates the well-known answer of `hostname`. Never throws for the remote's
 * faults (they are answers without a server, cached shorter); rethrows the caller's abort.
 * @internal
 */
export async function lookupWellKnown(request: WellKnownRequest): Promise<WellKnownAnswer> {
  const failed: WellKnownAnswer = { server: undefined, cacheMs: WELL_KNOWN_CACHE.errorMs };
  const authority = request.port === 443 ? request.hostname : `${request.hostname}:${request.port}`;
  let res;
  try {
    res = await request.fetch(`https://${authority}/.well-known/matrix/server`, {
      headers: { accept: "application/json" },
      timeoutMs: request.timeoutMs,
      maxBytes: request.maxBytes,
      signal: request.signal,
      redirect: "follow",
    });
  } catch (error) {
    if (request.signal?.aborted) throw error;
    return failed;
  }
  if (res.status !== 200) {
    res.cancel();
    return failed;
  }
  let body: unknown;
  try {
    body = JSON.parse(await res.text());
  } catch (error) {
    if (request.signal?.aborted) throw error;
    return failed;
  }
  const server =
    body !== null && typeof body === "object"
      ? (body as Record<string, unknown>)["m.server"]
      : undefined;
  if (typeof server !== "string" || !isValidServerName(server)) return failed;
  return { server, cacheMs: wellKnownCacheMs(res.headers, request.now()) };
}
