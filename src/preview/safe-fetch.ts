// The one outbound HTTP client of the kit. The address check lives in undici's connect
// path: every resolved address is classified, and the socket dials exactly the address
// that was checked (an IP literal, so neither undici nor net resolves the name again).
import { channel } from "node:diagnostics_channel";
import dns from "node:dns";
import net from "node:net";
import { Readable } from "node:stream";
import { Agent, ProxyAgent, buildConnector } from "undici";
import type { Dispatcher } from "undici";
import { MediaError } from "../errors.js";
import type { MatrixErrcode } from "../errors.js";
import { createAddressPolicy } from "./address.js";
import type { AddressPolicy } from "./address.js";

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

/** Diagnostics channel: `{ hostname, address, port, protocol }` just before a socket dials. */
export const SAFE_FETCH_DIAL_CHANNEL = "matrix-media-kit:safe-fetch:dial";
/** Diagnostics channel: `{ hostname, reason }` when the guard refuses. */
export const SAFE_FETCH_REFUSED_CHANNEL = "matrix-media-kit:safe-fetch:refused";

const dialChannel = channel(SAFE_FETCH_DIAL_CHANNEL);
const refusedChannel = channel(SAFE_FETCH_REFUSED_CHANNEL);

const defaultResolver: Resolver = (hostname) =>
  dns.promises.lookup(hostname, { all: true, verbatim: true });

function positiveInt(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new TypeError(
      `Expected an integer >= ${min} for ${name} but received ${typeof value === "number" ? String(value) : typeof value === "string" ? `"${value}"` : typeof value}`,
    );
  }
  return value;
}

function refuse(hostname: string, reason: SafeFetchFailure, cause?: unknown): SafeFetchError {
  if (refusedChannel.hasSubscribers) refusedChannel.publish({ hostname, reason });
  return new SafeFetchError(reason, { cause });
}

const ignore = (): void => {};

/** Destroys a body nobody will read, without an unhandled 'error' event. */
function discard(body: Readable): void {
  body.on("error", ignore);
  body.destroy();
}

const RETRYABLE_CONNECT = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Creates the SSRF-safe fetch every outbound request of the kit goes through (previews,
 * oEmbed, og:image, federation). At connect time it resolves the host with `lookup`,
 * refuses if ANY address is denied (IP literals are checked too), and dials exactly the
 * checked address; every redirect hop repeats this. The whole call runs under one deadline
 * and one byte cap.
 *
 * @example
 * ```ts
 * import { createSafeFetch } from "matrix-media-kit/preview";
 * const safeFetch = createSafeFetch({ timeoutMs: 5000, maxBytes: 1 << 20 });
 * const res = await safeFetch("https://example.org/", { headers: { accept: "text/html" } });
 * console.log(res.status, res.url, (await res.text()).length);
 * await safeFetch.close();
 * ```
 */
export function createSafeFetch(options: SafeFetchOptions = {}): SafeFetch {
  const policy: AddressPolicy = createAddressPolicy({
    denyRanges: options.denyRanges,
    allowRanges: options.allowRanges,
  });
  const maxRedirects = positiveInt(
    "maxRedirects",
    options.maxRedirects,
    DEFAULT_SAFE_FETCH_OPTIONS.maxRedirects,
    0,
  );
  const timeoutMs = positiveInt(
    "timeoutMs",
    options.timeoutMs,
    DEFAULT_SAFE_FETCH_OPTIONS.timeoutMs,
  );
  const maxBytes = positiveInt(
    "maxBytes",
    options.maxBytes,
    DEFAULT_SAFE_FETCH_OPTIONS.maxBytes,
    0,
  );
  const userAgent = options.userAgent ?? DEFAULT_SAFE_FETCH_OPTIONS.userAgent;
  if (typeof userAgent !== "string" || /[\r\n]/.test(userAgent)) {
    throw new TypeError("Expected a single-line string for userAgent");
  }
  if (options.lookup !== undefined && typeof options.lookup !== "function") {
    throw new TypeError(
      "Expected a function (hostname) => Promise<{ address, family }[]> for lookup",
    );
  }
  const lookup = options.lookup ?? defaultResolver;
  if (options.proxy !== undefined && options.allowProxy !== true) {
    throw new TypeError(
      "A proxy hides the target address from the SSRF guard; set allowProxy: true to use proxy",
    );
  }

  /** Resolves and checks a host; returns every address (all allowed), in resolver order. */
  async function checkedAddresses(rawHostname: string): Promise<ResolvedAddress[]> {
    const hostname =
      rawHostname.startsWith("[") && rawHostname.endsWith("]")
        ? rawHostname.slice(1, -1)
        : rawHostname;
    const family = net.isIP(hostname);
    if (family !== 0) {
      if (!policy.isAllowed(hostname)) throw refuse(hostname, "address-denied");
      return [{ address: hostname, family }];
    }
    let answers: readonly ResolvedAddress[];
    let timer: NodeJS.Timeout | undefined;
    try {
      // A resolver that never answers must not wedge undici's connection slot for the origin.
      answers = await Promise.race([
        lookup(hostname),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error("lookup timed out")), timeoutMs);
          timer.unref();
        }),
      ]);
    } catch (error) {
      throw refuse(hostname, "dns", error);
    } finally {
      clearTimeout(timer);
    }
    if (answers === null || typeof answers !== "object" || answers.length === 0)
      throw refuse(hostname, "dns");
    for (const answer of answers) {
      // A resolver answer that is not an IP literal would be resolved again by net: refuse it.
      if (net.isIP(answer.address) === 0 || !policy.isAllowed(answer.address)) {
        throw refuse(hostname, "address-denied");
      }
    }
    return answers.map(({ address, family: f }) => ({ address, family: f }));
  }

  const refuseLookup = (
    hostname: string,
    _options: unknown,
    callback: (error: Error | null, address: string, family: number) => void,
  ): void => {
    callback(refuse(hostname, "address-denied"), "", 0);
  };
  const dial = buildConnector({
    timeout: timeoutMs,
    // Defence in depth: sockets only ever get IP literals, so net must never need this.
    lookup: refuseLookup as unknown as net.LookupFunction,
    ...(options.tls ?? {}),
  });
  // Dials the checked addresses in order: all of them passed, so falling back is safe.
  const connect: buildConnector.connector = (connectOptions, callback) => {
    checkedAddresses(connectOptions.hostname).then(
      (targets) => {
        const attempt = (i: number): void => {
          const target = targets[i]!;
          if (dialChannel.hasSubscribers) {
            dialChannel.publish({
              hostname: connectOptions.hostname,
              address: target.address,
              port: connectOptions.port,
              protocol: connectOptions.protocol,
            });
          }
          dial({ ...connectOptions, hostname: target.address }, (error, socket) => {
            if (
              error &&
              i + 1 < targets.length &&
              RETRYABLE_CONNECT.has((error as NodeJS.ErrnoException).code ?? "")
            ) {
              attempt(i + 1);
            } else if (error) {
              callback(error, null);
            } else {
              callback(null, socket);
            }
          });
        };
        attempt(0);
      },
      (error: Error) => callback(error, null),
    );
  };

  const dispatcher: Dispatcher =
    options.proxy !== undefined
      ? new ProxyAgent({ uri: options.proxy, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
      : new Agent({ connect, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const proxied = options.proxy !== undefined;

  async function safeFetch(input: string | URL, init: SafeFetchInit = {}): Promise<SafeResponse> {
    const callMaxBytes = positiveInt("maxBytes", init.maxBytes, maxBytes, 0);
    const callTimeoutMs = positiveInt("timeoutMs", init.timeoutMs, timeoutMs);
    const redirectMode = init.redirect ?? "follow";
    let url: URL;
    try {
      url = new URL(input);
    } catch (error) {
      throw new MediaError("M_INVALID_PARAM", "Invalid URL", { cause: error });
    }

    const deadline = new AbortController();
    const timeoutError = new SafeFetchError("timeout");
    let onTimeout: (() => void) | undefined;
    const timer = setTimeout(() => {
      deadline.abort(timeoutError);
      onTimeout?.();
    }, callTimeoutMs);
    timer.unref();
    const signal = init.signal ? AbortSignal.any([deadline.signal, init.signal]) : deadline.signal;

    const headers: Record<string, string> = { "user-agent": userAgent };
    for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
    // Compressed bodies would escape a cap counted on the wire.
    headers["accept-encoding"] = "identity";
    let method = init.method ?? "GET";
    const visited: string[] = [];

    const fail = (error: unknown): never => {
      clearTimeout(timer);
      if (deadline.signal.aborted) throw timeoutError;
      if (init.signal?.aborted) throw init.signal.reason;
      if (error instanceof SafeFetchError) throw error;
      // undici may wrap the connect-path refusal; surface the guard's own error.
      const cause = (error as { cause?: unknown } | null)?.cause;
      if (cause instanceof SafeFetchError) throw cause;
      throw new SafeFetchError("network", { cause: error });
    };

    for (let hop = 0; ; hop++) {
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        fail(refuse(url.hostname, "scheme"));
      }
      if (init.allowUrl && !init.allowUrl(url)) fail(refuse(url.hostname, "url-blocked"));
      visited.push(url.href);
      if (proxied) await checkedAddresses(url.hostname).catch(fail);
      let res: Dispatcher.ResponseData;
      try {
        res = await dispatcher.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method,
          headers,
          signal,
        });
      } catch (error) {
        return fail(error);
      }
      const location = res.headers.location;
      if (
        REDIRECT_STATUSES.has(res.statusCode) &&
        typeof location === "string" &&
        redirectMode !== "manual"
      ) {
        discard(res.body);
        if (redirectMode === "error" || hop >= maxRedirects)
          fail(refuse(url.hostname, "too-many-redirects"));
        let next: URL;
        try {
          next = new URL(location, url);
        } catch (error) {
          return fail(new SafeFetchError("network", { cause: error }));
        }
        if (next.origin !== url.origin) delete headers.authorization;
        if (res.statusCode === 303 || (res.statusCode <= 302 && method !== "GET")) {
          method = method === "HEAD" ? "HEAD" : "GET";
        }
        url = next;
        continue;
      }

      const lengthHeader = res.headers["content-length"];
      if (typeof lengthHeader === "string" && Number(lengthHeader) > callMaxBytes) {
        discard(res.body);
        fail(new SafeFetchError("too-large"));
      }
      return wrapResponse(
        res,
        url.href,
        visited,
        callMaxBytes,
        timer,
        timeoutError,
        (fn) => {
          onTimeout = fn;
        },
        fail,
      );
    }
  }

  return Object.assign(safeFetch, {
    close: async (): Promise<void> => {
      await dispatcher.close();
    },
  });
}

function wrapResponse(
  res: Dispatcher.ResponseData,
  url: string,
  redirects: readonly string[],
  maxBytes: number,
  timer: NodeJS.Timeout,
  timeoutError: SafeFetchError,
  setOnTimeout: (fn: () => void) => void,
  fail: (error: unknown) => never,
): SafeResponse {
  const source = res.body;
  source.on("error", ignore);
  setOnTimeout(() => source.destroy(timeoutError));
  let consumed = false;
  let stream: Readable | undefined;

  async function* bounded(): AsyncGenerator<Buffer> {
    let received = 0;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > maxBytes) throw new SafeFetchError("too-large");
        yield chunk;
      }
      clearTimeout(timer);
    } catch (error) {
      fail(error);
    } finally {
      clearTimeout(timer);
      discard(source);
    }
  }
  const take = (): AsyncGenerator<Buffer> => {
    if (consumed) throw new TypeError("The response body was already consumed");
    consumed = true;
    return bounded();
  };
  const buffer = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of take()) chunks.push(chunk);
    return Buffer.concat(chunks);
  };
  return {
    status: res.statusCode,
    headers: res.headers,
    url,
    redirects,
    get body(): Readable {
      stream ??= Readable.from(take(), { objectMode: false });
      return stream;
    },
    buffer,
    async arrayBuffer(): Promise<ArrayBuffer> {
      const b = await buffer();
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
    async text(): Promise<string> {
      return (await buffer()).toString("utf8");
    },
    cancel(): void {
      consumed = true;
      clearTimeout(timer);
      discard(source);
    },
  };
}
