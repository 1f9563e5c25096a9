// The options and public types of the SSRF guard, and their validation into settings.
import dns from "node:dns";
import type { Readable } from "node:stream";
import { createAddressPolicy } from "./address.js";
import type { AddressPolicy } from "./address.js";
import { headerOption, integerOption, optionError } from "./options.js";

/** One answer of a resolver. */
export interface ResolvedAddress {
  address: string;
  /** 4 or 6. */
  family: number;
}

/** Resolves a hostname to every address it has, like `dns.promises.lookup(name, { all: true })`. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** Options of {@link createSafeFetch}. Every field has a default in {@link DEFAULT_SAFE_FETCH_OPTIONS}. */
export interface SafeFetchOptions {
  /**
   * Extra ranges to refuse, added to `DEFAULT_DENY_RANGES` (which always apply).
   * @defaultValue `[]`
   */
  denyRanges?: readonly string[];
  /**
   * Ranges let through although a deny range contains them. Name only what you need.
   * @defaultValue `[]`
   */
  allowRanges?: readonly string[];
  /**
   * Redirects followed before refusing. Every hop goes through the same address check.
   * @defaultValue 5
   */
  maxRedirects?: number;
  /**
   * Overall deadline of one call in ms: connecting, every redirect, headers and the whole
   * body. A trickling server cannot stretch it.
   * @defaultValue 10000
   */
  timeoutMs?: number;
  /**
   * Byte cap of one body, counted on the wire (no decompression is done).
   * @defaultValue 10485760 (10 MiB)
   */
  maxBytes?: number;
  /**
   * `User-Agent` header sent unless the call sets one.
   * @defaultValue "matrix-media-kit (+https://github.com/matrix-org/matrix-spec)"
   */
  userAgent?: string;
  /**
   * Resolver used for every hostname; its answers are all checked. Inject a stub in tests.
   * @defaultValue `dns.promises.lookup(hostname, { all: true, verbatim: true })`
   */
  lookup?: Resolver;
  /**
   * An HTTP proxy URL. A proxy resolves and dials the target itself, out of the guard's
   * reach, so this is refused unless `allowProxy` is true.
   * @defaultValue undefined (environment proxy variables are never used)
   */
  proxy?: string;
  /**
   * Opt in to `proxy`. The guard then checks the target by resolving it locally before
   * each hop, which cannot stop the proxy from resolving it differently.
   * @defaultValue false
   */
  allowProxy?: boolean;
  /**
   * TLS options for https targets (custom CA, `rejectUnauthorized`). The address check
   * applies whatever these say.
   * @defaultValue `{}`
   */
  tls?: { ca?: string | Buffer | Array<string | Buffer>; rejectUnauthorized?: boolean };
}

/**
 * Defaults of {@link SafeFetchOptions}.
 *
 * @example
 * ```ts
 * createSafeFetch({ timeoutMs: DEFAULT_SAFE_FETCH_OPTIONS.timeoutMs * 2 });
 * ```
 */
export const DEFAULT_SAFE_FETCH_OPTIONS = Object.freeze({
  /** @defaultValue 5 */
  maxRedirects: 5,
  /** @defaultValue 10000 */
  timeoutMs: 10_000,
  /** @defaultValue 10 MiB */
  maxBytes: 10 * 1024 * 1024,
  /** @defaultValue "matrix-media-kit (+https://github.com/matrix-org/matrix-spec)" */
  userAgent: "matrix-media-kit (+https://github.com/matrix-org/matrix-spec)",
});

/** Per-call options of a {@link SafeFetch}. */
export interface SafeFetchInit {
  /** @defaultValue "GET" */
  method?: "GET" | "HEAD";
  headers?: Record<string, string>;
  /** Aborts the call; the abort reason is rethrown as is. */
  signal?: AbortSignal;
  /** Overrides the factory's `maxBytes` for this call. */
  maxBytes?: number;
  /** Overrides the factory's `timeoutMs` for this call. */
  timeoutMs?: number;
  /**
   * `follow` checks and follows up to `maxRedirects` hops; `manual` returns the 3xx;
   * `error` refuses any redirect.
   * @defaultValue "follow"
   */
  redirect?: "follow" | "manual" | "error";
  /**
   * Checked on the URL of every hop (the first included) before it is requested; `false`
   * refuses with reason `url-blocked`. Used to apply URL blocklists to redirect targets.
   */
  allowUrl?: (url: URL) => boolean;
  /**
   * Dial this host and port for the first hop instead of the URL's authority, which stays
   * the `Host` header and the name the TLS certificate must match (no SNI for an IP literal).
   * The host is resolved with the same `lookup` and every address is checked by the same
   * guard at connect time. Redirect hops never inherit it, and because a redirect then
   * reaches a different machine, the `Authorization` header is dropped on every redirect
   * hop of such a call (federation requests also refuse redirects outright). Refused with a
   * proxy. Used by federation requests after server discovery (SRV targets, delegated ports).
   * @defaultValue undefined (dial the URL's host and port)
   */
  connectTo?: { host: string; port: number };
}

/** A response whose body is bounded by the byte cap and the call's deadline. */
export interface SafeResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>;
  /** The final URL, after redirects. */
  url: string;
  /** Every URL fetched, the first one included. */
  redirects: readonly string[];
  /** The body as a stream of Buffers; it errors with a {@link SafeFetchError} past the cap or the deadline. */
  readonly body: Readable;
  /** The whole body (bounded by the cap and the deadline). */
  arrayBuffer(): Promise<ArrayBuffer>;
  /** The whole body as a Buffer (bounded by the cap and the deadline). */
  buffer(): Promise<Buffer>;
  /** The whole body decoded as UTF-8 (bounded by the cap and the deadline). */
  text(): Promise<string>;
  /** Discards the body and frees the connection. */
  cancel(): void;
}

/** A fetch that refuses denied addresses on every hop. `close()` releases its connections. */
export interface SafeFetch {
  (url: string | URL, init?: SafeFetchInit): Promise<SafeResponse>;
  /** Closes pooled connections; later calls fail. */
  close(): Promise<void>;
}

/** The validated options of one {@link SafeFetch}. @internal */
export interface SafeFetchSettings {
  policy: AddressPolicy;
  maxRedirects: number;
  timeoutMs: number;
  maxBytes: number;
  userAgent: string;
  lookup: Resolver;
  proxy: string | undefined;
  tls: SafeFetchOptions["tls"];
}

const defaultResolver: Resolver = (hostname) =>
  dns.promises.lookup(hostname, { all: true, verbatim: true });

const OWNER = "createSafeFetch";

/** Validates {@link SafeFetchOptions}; every refusal is a `ConfigError`. @internal */
export function resolveSafeFetchOptions(options: SafeFetchOptions): SafeFetchSettings {
  const defaults = DEFAULT_SAFE_FETCH_OPTIONS;
  if (options.lookup !== undefined && typeof options.lookup !== "function") {
    throw optionError(
      OWNER,
      "lookup",
      "a function (hostname) => Promise<{ address, family }[]>",
      options.lookup,
    );
  }
  if (options.proxy !== undefined && options.allowProxy !== true) {
    throw optionError(
      OWNER,
      "allowProxy",
      "true when options.proxy is set (a proxy hides the target address from the SSRF guard)",
      options.allowProxy,
    );
  }
  return {
    policy: createAddressPolicy({
      denyRanges: options.denyRanges,
      allowRanges: options.allowRanges,
    }),
    maxRedirects: integerOption(
      OWNER,
      "maxRedirects",
      options.maxRedirects,
      defaults.maxRedirects,
      0,
    ),
    timeoutMs: integerOption(OWNER, "timeoutMs", options.timeoutMs, defaults.timeoutMs),
    maxBytes: integerOption(OWNER, "maxBytes", options.maxBytes, defaults.maxBytes, 0),
    userAgent: headerOption(OWNER, "userAgent", options.userAgent, defaults.userAgent),
    lookup: options.lookup ?? defaultResolver,
    proxy: options.proxy,
    tls: options.tls,
  };
}
