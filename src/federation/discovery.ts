// Server discovery as the server-server spec's "Resolving server names" describes it: IP
// literals and explicit ports are used as they are; otherwise `.well-known/matrix/server`
// may delegate to another name, then SRV `_matrix-fed._tcp` (and the deprecated
// `_matrix._tcp`) is consulted, and port 8448 is the last resort.
import dns from "node:dns";
import { ConfigError } from "../errors.js";
import { abortable } from "../internal/abortable.js";
import { createSingleFlight } from "../internal/single-flight.js";
import { integerOption } from "../preview/options.js";
import type { SafeFetch } from "../preview/safe-fetch-options.js";
import { formatAuthority, parseServerName } from "./server-name.js";
import { pickSrvRecord, resolveSrvCached } from "./transport-srv.js";
import type { SrvRecord, SrvResolver } from "./transport-srv.js";
import { createExpiringCache } from "./transport-cache.js";
import { lookupWellKnown } from "./well-known.js";
import type { WellKnownAnswer } from "./well-known.js";

export type { SrvRecord, SrvResolver } from "./transport-srv.js";

/** Where to send federation requests for one server name. */
export interface ResolvedServer {
  /** `https://<hostHeader>`: the base URL of federation requests. */
  url: string;
  /** The `Host` header (the server name, or the delegated name, with a port when it had one). */
  hostHeader: string;
  /** The host and port to dial (pass as `SafeFetchInit.connectTo`). */
  connectTo: { host: string; port: number };
  /** The name the TLS certificate must be valid for (an IP address for IP literals). */
  tlsName: string;
}

/** Options of {@link createServerDiscovery}. */
export interface ServerDiscoveryOptions {
  /** The SSRF-safe fetch used for `.well-known/matrix/server` (redirects are followed through it). */
  fetch: SafeFetch;
  /**
   * SRV resolver; an empty array means no record.
   * @defaultValue node:dns `resolveSrv`, with ENOTFOUND / ENODATA as no record
   */
  resolveSrv?: SrvResolver;
  /** @defaultValue `Date.now` */
  now?: () => number;
  /** Picks among SRV records of equal priority by weight. @defaultValue `Math.random` */
  random?: () => number;
  /** Deadline of the well-known request, ms (1–30000). @defaultValue 10000 */
  wellKnownTimeoutMs?: number;
  /** Byte cap of the well-known body. @defaultValue 51200 */
  wellKnownMaxBytes?: number;
  /** Port of the well-known request; only tests and unusual setups change it. @defaultValue 443 */
  wellKnownPort?: number;
  /** How long SRV answers (records or none) are kept, ms. @defaultValue 3600000 (1 h) */
  srvCacheMs?: number;
  /** Entries kept in each cache (well-known, SRV). @defaultValue 10000 */
  maxCacheEntries?: number;
}

/** Resolves server names to where their federation API is. */
export interface ServerDiscovery {
  /** Resolves `serverName`; throws `MediaError` `M_INVALID_PARAM` (400) for an invalid name. */
  resolve(serverName: string, options?: { signal?: AbortSignal }): Promise<ResolvedServer>;
  /** Forgets every cached answer. */
  clear(): void;
}

/**
 * Defaults of {@link ServerDiscoveryOptions}.
 *
 * @example
 * ```ts
 * createServerDiscovery({ fetch, srvCacheMs: DEFAULT_DISCOVERY_OPTIONS.srvCacheMs / 2 });
 * ```
 */
export const DEFAULT_DISCOVERY_OPTIONS = Object.freeze({
  /** @defaultValue 10000 */
  wellKnownTimeoutMs: 10_000,
  /** @defaultValue 51200 */
  wellKnownMaxBytes: 50 * 1024,
  /** @defaultValue 443 */
  wellKnownPort: 443,
  /** @defaultValue 3600000 */
  srvCacheMs: 60 * 60_000,
  /** @defaultValue 10000 */
  maxCacheEntries: 10_000,
});

const FEDERATION_PORT = 8448;
const OWNER = "createServerDiscovery";

const NO_RECORD = new Set(["ENOTFOUND", "ENODATA", "ENONAME", "NXDOMAIN"]);
const defaultResolveSrv: SrvResolver = async (name) => {
  try {
    return await dns.promises.resolveSrv(name);
  } catch (error) {
    if (NO_RECORD.has((error as NodeJS.ErrnoException).code ?? "")) return [];
    throw error;
  }
};

function server(hostHeader: string, host: string, port: number, tlsName: string): ResolvedServer {
  return { url: `https://${hostHeader}`, hostHeader, connectTo: { host, port }, tlsName };
}

function validate(options: ServerDiscoveryOptions) {
  if (typeof options?.fetch !== "function") {
    throw new ConfigError(`${OWNER}: expected options.fetch to be a SafeFetch`, {
      option: "fetch",
    });
  }
  for (const name of ["resolveSrv", "now", "random"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw new ConfigError(`${OWNER}: expected options.${name} to be a function`, {
        option: name,
      });
    }
  }
  const d = DEFAULT_DISCOVERY_OPTIONS;
  const timeoutMs = integerOption(
    OWNER,
    "wellKnownTimeoutMs",
    options.wellKnownTimeoutMs,
    d.wellKnownTimeoutMs,
  );
  if (timeoutMs > 30_000) {
    throw new ConfigError(
      `${OWNER}: expected options.wellKnownTimeoutMs to be at most 30000 but received ${timeoutMs}`,
      { option: "wellKnownTimeoutMs" },
    );
  }
  const port = integerOption(OWNER, "wellKnownPort", options.wellKnownPort, d.wellKnownPort);
  if (port > 65535) {
    throw new ConfigError(
      `${OWNER}: expected options.wellKnownPort to be a port 1-65535 but received ${port}`,
      { option: "wellKnownPort" },
    );
  }
  return {
    fetch: options.fetch,
    resolveSrv: options.resolveSrv ?? defaultResolveSrv,
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
    timeoutMs,
    port,
    maxBytes: integerOption(
      OWNER,
      "wellKnownMaxBytes",
      options.wellKnownMaxBytes,
      d.wellKnownMaxBytes,
    ),
    srvCacheMs: integerOption(OWNER, "srvCacheMs", options.srvCacheMs, d.srvCacheMs, 0),
    maxEntries: integerOption(OWNER, "maxCacheEntries", options.maxCacheEntries, d.maxCacheEntries),
  };
}

/**
 * Creates the server discovery of outbound federation requests: the spec's "Resolving
 * server names" step by step, with bounded caches (well-known answers per their
 * Cache-Control / Expires, 24 h by default, at most 48 h, failures 1 h; SRV answers
 * `srvCacheMs`) and one lookup in flight per name.
 *
 * @example
 * ```ts
 * import { createSafeFetch } from "matrix-media-kit/preview";
 * const discovery = createServerDiscovery({ fetch: createSafeFetch() });
 * const target = await discovery.resolve("matrix.org");
 * // fetch `${target.url}/_matrix/federation/v1/version` with { connectTo: target.connectTo }
 * ```
 */
export function createServerDiscovery(options: ServerDiscoveryOptions): ServerDiscovery {
  const s = validate(options);
  const wellKnown = createExpiringCache<WellKnownAnswer>(s.maxEntries, s.now);
  const srv = createExpiringCache<readonly SrvRecord[]>(s.maxEntries, s.now);
  const wellKnownFlights = createSingleFlight<WellKnownAnswer>();
  const srvFlights = createSingleFlight<readonly SrvRecord[]>();

  const srvTarget = async (hostname: string): Promise<SrvRecord | undefined> => {
    for (const prefix of ["_matrix-fed._tcp.", "_matrix._tcp."]) {
      const name = `${prefix}${hostname}`;
      const records = await resolveSrvCached(name, {
        cache: srv,
        flights: srvFlights,
        resolve: s.resolveSrv,
        ttlMs: s.srvCacheMs,
      });
      const picked = pickSrvRecord(records, s.random);
      if (picked !== undefined) return picked;
    }
    return undefined;
  };

  /** Steps for a name without an explicit port that is not an IP literal (after delegation). */
  const fromHostname = async (hostname: string): Promise<ResolvedServer> => {
    const record = await srvTarget(hostname);
    return record === undefined
      ? server(hostname, hostname, FEDERATION_PORT, hostname)
      : server(hostname, record.name, record.port, hostname);
  };

  // A shared lookup is not tied to one caller's signal (callers stop waiting via withSignal).
  const lookup = async (hostname: string): Promise<WellKnownAnswer> => {
    const cached = wellKnown.get(hostname);
    if (cached !== undefined) return cached;
    return wellKnownFlights.run(hostname, async () => {
      const answer = await lookupWellKnown({
        fetch: s.fetch,
        hostname,
        port: s.port,
        timeoutMs: s.timeoutMs,
        maxBytes: s.maxBytes,
        now: s.now,
      });
      wellKnown.set(hostname, answer, answer.cacheMs);
      return answer;
    });
  };

  const resolve = async (serverName: string): Promise<ResolvedServer> => {
    const name = parseServerName(serverName);
    const hostHeader = formatAuthority(name.host, name.port);
    // Steps 1 and 2: an IP literal, or an explicit port, is used as is.
    if (name.ip !== undefined || name.port !== undefined) {
      return server(hostHeader, name.host, name.port ?? FEDERATION_PORT, name.host);
    }
    // Step 3: .well-known delegation.
    const answer = await lookup(name.host);
    if (answer.server !== undefined) {
      const delegated = parseServerName(answer.server);
      const delegatedHeader = formatAuthority(delegated.host, delegated.port);
      if (delegated.ip !== undefined || delegated.port !== undefined) {
        return server(
          delegatedHeader,
          delegated.host,
          delegated.port ?? FEDERATION_PORT,
          delegated.host,
        );
      }
      return fromHostname(delegated.host);
    }
    // Steps 4 to 6: SRV on the server name itself, then 8448.
    return fromHostname(name.host);
  };

  return {
    resolve: (serverName, callOptions = {}) => withSignal(resolve(serverName), callOptions.signal),
    clear: () => {
      wellKnown.clear();
      srv.clear();
    },
  };
}

/** Lets a caller's abort end its wait (a shared lookup keeps running for the others). */
function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  promise.catch(() => {});
  return abortable(promise, signal);
}
