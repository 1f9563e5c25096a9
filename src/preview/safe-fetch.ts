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
/** Dispatchers kept for `connectTo` targets (one pool per origin and target); oldest closed first. */
const MAX_TARGET_DISPATCHERS = 32;

/** The dispatchers of one SafeFetch: the default one and those of `connectTo` targets. */
interface Dispatchers {
  readonly main: Dispatcher;
  readonly targets: Map<string, Dispatcher>;
}

function validConnectTo(value: SafeFetchInit["connectTo"]): SafeFetchInit["connectTo"] {
  if (value === undefined) return undefined;
  const { host, port } = value ?? {};
  if (typeof host !== "string" || host.length === 0 || /[\s/?#@]/.test(host)) {
    throw new TypeError(
      `Expected a hostname or IP address for connectTo.host but received ${typeof host}`,
    );
  }
  callInteger("connectTo.port", port, 0, 1);
  if (port > 65535)
    throw new TypeError(`Expected a port 1-65535 for connectTo.port but received ${port}`);
  return { host, port };
}

/** The dispatcher of one hop: a `connectTo` pool for the first hop, the default one after. */
function hopDispatcher(
  settings: SafeFetchSettings,
  dispatchers: Dispatchers,
  call: Call,
  hop: number,
): Dispatcher {
  const target = call.connectTo;
  if (hop > 0 || target === undefined) return dispatchers.main;
  const tlsName = call.url.hostname.replace(/^\[(.*)\]$/, "$1");
  const key = `${call.url.origin}|${target.host}|${target.port}`;
  let dispatcher = dispatchers.targets.get(key);
  if (dispatcher === undefined) {
    dispatcher = createGuardedDispatcher(settings, { ...target, tlsName });
    dispatchers.targets.set(key, dispatcher);
    if (dispatchers.targets.size > MAX_TARGET_DISPATCHERS) {
      const [oldestKey, oldest] = dispatchers.targets.entries().next().value!;
      dispatchers.targets.delete(oldestKey);
      // close() lets requests in flight on the evicted pool finish.
      oldest.close().catch(() => {});
    }
  } else {
    dispatchers.targets.delete(key);
    dispatchers.targets.set(key, dispatcher);
  }
  return dispatcher;
}

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
  readonly connectTo: SafeFetchInit["connectTo"];
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
  const connectTo = validConnectTo(init.connectTo);
  if (connectTo !== undefined && settings.proxy !== undefined) {
    throw new TypeError("connectTo cannot be used with a proxy: the proxy dials the URL's host");
  }
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
    connectTo,
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
  // With connectTo, even a same-origin redirect reaches another machine (it is not inherited).
  if (next.origin !== call.url.origin || call.connectTo !== undefined) {
    delete call.headers.authorization;
  }
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
  dispatchers: Dispatchers,
  input: string | URL,
  init: SafeFetchInit,
): Promise<SafeResponse> {
  const call = startCall(settings, input, init);
  for (let hop = 0; ; hop++) {
    const res = await requestHop(settings, hopDispatcher(settings, dispatchers, call, hop), call);
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
  const dispatchers: Dispatchers = { main: createGuardedDispatcher(settings), targets: new Map() };
  const safeFetch = (input: string | URL, init: SafeFetchInit = {}): Promise<SafeResponse> =>
    guardedFetch(settings, dispatchers, input, init);
  return Object.assign(safeFetch, {
    close: async (): Promise<void> => {
      const all = [dispatchers.main, ...dispatchers.targets.values()];
      dispatchers.targets.clear();
      await Promise.all(all.map((d) => d.close()));
    },
  });
}
