// The one outbound HTTP client of the kit. The address check lives in the dispatcher's
// connect path (connect-guard.ts); redirects are followed here, hop by hop, so every hop goes
// through that check, the scheme check and the caller's `allowUrl`.
import type { Dispatcher } from "undici";
import { MediaError } from "../errors.js";
import { boundedResponse, discard } from "./bounded-body.js";
import type { CallDeadline } from "./bounded-body.js";
import { checkedAddresses, createGuardedDispatcher } from "./connect-guard.js";
import { SafeFetchError, refuse } from "./safe-fetch-error.js";
import { resolveSafeFetchOptions } from "./safe-fetch-options.js";
import type {
  SafeFetch,
  SafeFetchInit,
  SafeFetchOptions,
  SafeFetchSettings,
  SafeResponse,
} from "./safe-fetch-options.js";

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Per-call overrides are arguments, not configuration: a bad one is the caller's bug. */
function callInteger(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new TypeError(
      `Expected an integer >= ${min} for ${name} but received ${typeof value === "number" ? String(value) : typeof value}`,
    );
  }
  return value;
}

/** The state of one call across its hops. */
interface Call {
  url: URL;
  method: "GET" | "HEAD";
  readonly headers: Record<string, string>;
  readonly visited: string[];
  readonly maxBytes: number;
  readonly redirect: "follow" | "manual" | "error";
  readonly init: SafeFetchInit;
  readonly deadline: CallDeadline;
  readonly fail: (error: unknown) => never;
}

function startDeadline(timeoutMs: number, callerSignal: AbortSignal | undefined): CallDeadline {
  const controller = new AbortController();
  const error = new SafeFetchError("timeout");
  const timer = setTimeout(() => {
    controller.abort(error);
    deadline.onTimeout?.();
  }, timeoutMs);
  timer.unref();
  const signal = callerSignal
    ? AbortSignal.any([controller.signal, callerSignal])
    : controller.signal;
  const deadline: CallDeadline = { timer, error, expired: controller.signal, signal };
  return deadline;
}

function startCall(settings: SafeFetchSettings, input: string | URL, init: SafeFetchInit): Call {
  const maxBytes = callInteger("maxBytes", init.maxBytes, settings.maxBytes, 0);
  const timeoutMs = callInteger("timeoutMs", init.timeoutMs, settings.timeoutMs, 1);
  let url: URL;
  try {
    url = new URL(input);
  } catch (error) {
    throw new MediaError("M_INVALID_PARAM", "Invalid URL", { cause: error });
  }
  const deadline = startDeadline(timeoutMs, init.signal);
  const headers: Record<string, string> = { "user-agent": settings.userAgent };
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  // Compressed bodies would escape a cap counted on the wire.
  headers["accept-encoding"] = "identity";
  const fail = (error: unknown): never => {
    clearTimeout(deadline.timer);
    if (deadline.expired.aborted) throw deadline.error;
    if (init.signal?.aborted) throw init.signal.reason;
    if (error instanceof SafeFetchError) throw error;
    // undici may wrap the connect-path refusal; surface the guard's own error.
    const cause = (error as { cause?: unknown } | null)?.cause;
    if (cause instanceof SafeFetchError) throw cause;
    throw new SafeFetchError("network", { cause: error });
  };
  return {
    url,
    method: init.method ?? "GET",
    headers,
    visited: [],
    maxBytes,
    redirect: init.redirect ?? "follow",
    init,
    deadline,
    fail,
  };
}

/** The target of a redirect to follow, or undefined when `res` is the answer. */
function redirectTarget(
  settings: SafeFetchSettings,
  call: Call,
  res: Dispatcher.ResponseData,
  hop: number,
): URL | undefined {
  const location = res.headers.location;
  if (!REDIRECT_STATUSES.has(res.statusCode) || typeof location !== "string") return undefined;
  if (call.redirect === "manual") return undefined;
  discard(res.body);
  if (call.redirect === "error" || hop >= settings.maxRedirects) {
    call.fail(refuse(call.url.hostname, "too-many-redirects"));
  }
  let next: URL;
  try {
    next = new URL(location, call.url);
  } catch (error) {
    return call.fail(new SafeFetchError("network", { cause: error }));
  }
  if (next.origin !== call.url.origin) delete call.headers.authorization;
  if (res.statusCode === 303 || (res.statusCode <= 302 && call.method !== "GET")) {
    call.method = call.method === "HEAD" ? "HEAD" : "GET";
  }
  return next;
}

async function requestHop(
  settings: SafeFetchSettings,
  dispatcher: Dispatcher,
  call: Call,
): Promise<Dispatcher.ResponseData> {
  const { url } = call;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    call.fail(refuse(url.hostname, "scheme"));
  }
  if (call.init.allowUrl && !call.init.allowUrl(url))
    call.fail(refuse(url.hostname, "url-blocked"));
  call.visited.push(url.href);
  if (settings.proxy !== undefined) await checkedAddresses(settings, url.hostname).catch(call.fail);
  try {
    return await dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: call.method,
      headers: call.headers,
      signal: call.deadline.signal,
    });
  } catch (error) {
    return call.fail(error);
  }
}

async function guardedFetch(
  settings: SafeFetchSettings,
  dispatcher: Dispatcher,
  input: string | URL,
  init: SafeFetchInit,
): Promise<SafeResponse> {
  const call = startCall(settings, input, init);
  for (let hop = 0; ; hop++) {
    const res = await requestHop(settings, dispatcher, call);
    const next = redirectTarget(settings, call, res, hop);
    if (next !== undefined) {
      call.url = next;
      continue;
    }
    const lengthHeader = res.headers["content-length"];
    if (typeof lengthHeader === "string" && Number(lengthHeader) > call.maxBytes) {
      discard(res.body);
      call.fail(new SafeFetchError("too-large"));
    }
    return boundedResponse(res, {
      url: call.url.href,
      redirects: call.visited,
      maxBytes: call.maxBytes,
      deadline: call.deadline,
      fail: call.fail,
    });
  }
}

/**
 * Creates the SSRF-safe fetch every outbound request of the kit goes through (previews,
 * oEmbed, og:image, federation). At connect time it resolves the host with `lookup`,
 * refuses if ANY address is denied (IP literals are checked too), and dials exactly the
 * checked address; every redirect hop repeats this. The whole call runs under one deadline
 * and one byte cap. Invalid options throw a `ConfigError`.
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
  const settings = resolveSafeFetchOptions(options);
  const dispatcher = createGuardedDispatcher(settings);
  const safeFetch = (input: string | URL, init: SafeFetchInit = {}): Promise<SafeResponse> =>
    guardedFetch(settings, dispatcher, input, init);
  return Object.assign(safeFetch, {
    close: async (): Promise<void> => {
      await dispatcher.close();
    },
  });
}
