// Outbound federation requests: signed JSON GETs (used by the key fetcher) and remote media
// downloads, all through the kit's one SSRF guard with discovery's connect target.
import type { Readable } from "node:stream";
import { ConfigError, MediaError } from "../errors.js";
import { isValidMediaId } from "../ids/validate.js";
import { integerOption } from "../preview/options.js";
import { createSafeFetch } from "../preview/safe-fetch.js";
import type { SafeFetchOptions, SafeResponse } from "../preview/safe-fetch-options.js";
import { createServerDiscovery } from "./discovery.js";
import type { ResolvedServer, ServerDiscovery, ServerDiscoveryOptions } from "./discovery.js";
import { parseServerName } from "./server-name.js";
import { downloadMedia } from "./transport-download.js";
import type { DownloadContext } from "./transport-download.js";
import { badRemote, outboundError, remoteError, remoteErrorInfo } from "./transport-response.js";

/** Signs one request: returns the `Authorization` header value (`X-Matrix ...`). */
export type FederationAuthorizer = (request: {
  method: string;
  /** The request target: path and query, as sent. */
  uri: string;
  destination: string;
}) => string;

/** Options of {@link createFederationClient}. */
export interface FederationClientOptions {
  /** Our server name (the `origin` of signed requests). */
  serverName: string;
  /** Produces the Authorization header of a signed request. */
  authorize: FederationAuthorizer;
  /** Server discovery. @defaultValue one built on this client's safe fetch (`discoveryOptions`) */
  discovery?: ServerDiscovery;
  /** Options of the default discovery (ignored with `discovery`). @defaultValue `{}` */
  discoveryOptions?: Omit<ServerDiscoveryOptions, "fetch">;
  /** SSRF guard: extra denied ranges. @defaultValue `[]` */
  denyRanges?: SafeFetchOptions["denyRanges"];
  /** SSRF guard: ranges allowed despite the default deny list. @defaultValue `[]` */
  allowRanges?: SafeFetchOptions["allowRanges"];
  /** TLS options (custom CA). @defaultValue `{}` */
  tls?: SafeFetchOptions["tls"];
  /** Resolver of every hostname. @defaultValue node:dns lookup (all addresses) */
  lookup?: SafeFetchOptions["lookup"];
  /** Deadline of one request, all hops, headers and body, ms (1–60000). @defaultValue 20000 */
  timeoutMs?: number;
  /** Largest media accepted, bytes. @defaultValue 52428800 (50 MiB) */
  maxBytes?: number;
  /** Largest JSON body of {@link FederationClient.getJson}. @defaultValue 1048576 */
  maxJsonBytes?: number;
  /** @defaultValue the safe fetch's default User-Agent */
  userAgent?: string;
}

/** Per-call options of {@link FederationClient.downloadMedia}. */
export interface DownloadMediaOptions {
  /** @defaultValue the client's `timeoutMs` */
  timeoutMs?: number;
  /** @defaultValue the client's `maxBytes` */
  maxBytes?: number;
  signal?: AbortSignal;
  /**
   * Try the unauthenticated `/_matrix/media/v3/download` when the remote does not know the
   * federation endpoint. Off by default: media is authenticated since Matrix 1.11 and current
   * servers have frozen (or removed) the legacy endpoints.
   * @defaultValue false
   */
  legacyFallback?: boolean;
}

/** Remote media, streamed. */
export interface RemoteMediaResponse {
  contentType: string;
  /** Sanitised file name from Content-Disposition. */
  filename?: string;
  /** Declared length of the media bytes (enforced: more or fewer is an error). */
  contentLength?: number;
  /** The bytes; errors with a `MediaError` (502 too large / truncated, 504 deadline). */
  stream: Readable;
  /** How the bytes came: the multipart body, its `Location`, or the legacy endpoint. */
  via: "federation" | "location" | "legacy";
}

/** A client for outbound federation requests. */
export interface FederationClient {
  /** A signed GET of `path` (path and query) on `destination`, its 200 JSON body parsed. */
  getJson(destination: string, path: string, options?: { signal?: AbortSignal }): Promise<unknown>;
  /** Downloads `mxc://origin/mediaId` from its origin over federation. */
  downloadMedia(
    origin: string,
    mediaId: string,
    options?: DownloadMediaOptions,
  ): Promise<RemoteMediaResponse>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

const OWNER = "createFederationClient";
const MAX_TIMEOUT_MS = 60_000;

/**
 * Defaults of {@link FederationClientOptions}.
 *
 * @example
 * ```ts
 * createFederationClient({ serverName, authorize, maxBytes: DEFAULT_FEDERATION_CLIENT_OPTIONS.maxBytes * 2 });
 * ```
 */
export const DEFAULT_FEDERATION_CLIENT_OPTIONS = Object.freeze({
  /** @defaultValue 20000 */
  timeoutMs: 20_000,
  /** @defaultValue 50 MiB */
  maxBytes: 50 * 1024 * 1024,
  /** @defaultValue 1 MiB */
  maxJsonBytes: 1024 * 1024,
});

function timeoutOption(option: string, value: unknown, fallback: number): number {
  const ms = integerOption(OWNER, option, value, fallback);
  if (ms > MAX_TIMEOUT_MS) {
    throw new ConfigError(
      `${OWNER}: expected ${option} to be at most ${MAX_TIMEOUT_MS} but received ${ms}`,
      { option },
    );
  }
  return ms;
}

const REQUEST_PATH = /^\/[!$&'()*+,\-./0-9:;=?@A-Z_a-z~%]*$/;

/** A JSON response, checked and bounded. */
async function readJson(res: SafeResponse): Promise<unknown> {
  if (res.status !== 200) throw remoteError(await remoteErrorInfo(res));
  const type = String(res.headers["content-type"] ?? "")
    .split(";")[0]!
    .trim()
    .toLowerCase();
  if (type !== "application/json") {
    res.cancel();
    throw badRemote("The remote server did not answer with JSON");
  }
  const text = await res.text();
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new MediaError("M_UNKNOWN", "The remote server sent invalid JSON", {
      status: 502,
      cause: error,
    });
  }
}

/**
 * Creates the outbound federation client: discovery (well-known, SRV, 8448), the connect
 * target and Host header it gives, requests signed by `authorize`, and every hop through
 * one `createSafeFetch` (its address guard, deadline and byte cap). Signed requests refuse
 * HTTP redirects. Invalid options throw a `ConfigError`.
 *
 * @example
 * ```ts
 * const client = createFederationClient({ serverName: "example.org", authorize: (req) => signRequest(req) });
 * const keys = await client.getJson("matrix.org", "/_matrix/key/v2/server");
 * const media = await client.downloadMedia("matrix.org", "AbCdEf");
 * media.stream.pipe(process.stdout);
 * await client.close();
 * ```
 */
export function createFederationClient(options: FederationClientOptions): FederationClient {
  try {
    parseServerName(options?.serverName);
  } catch (error) {
    throw new ConfigError(`${OWNER}: expected options.serverName to be a Matrix server name`, {
      option: "serverName",
      cause: error,
    });
  }
  if (typeof options.authorize !== "function") {
    throw new ConfigError(`${OWNER}: expected options.authorize to be a function`, {
      option: "authorize",
    });
  }
  const d = DEFAULT_FEDERATION_CLIENT_OPTIONS;
  const timeoutMs = timeoutOption("timeoutMs", options.timeoutMs, d.timeoutMs);
  const maxBytes = integerOption(OWNER, "maxBytes", options.maxBytes, d.maxBytes, 0);
  const maxJsonBytes = integerOption(OWNER, "maxJsonBytes", options.maxJsonBytes, d.maxJsonBytes);
  const safeFetch = createSafeFetch({
    denyRanges: options.denyRanges,
    allowRanges: options.allowRanges,
    tls: options.tls,
    lookup: options.lookup,
    userAgent: options.userAgent,
    timeoutMs: MAX_TIMEOUT_MS,
  });
  const discovery =
    options.discovery ?? createServerDiscovery({ ...options.discoveryOptions, fetch: safeFetch });
  const { authorize } = options;

  const getJson: FederationClient["getJson"] = async (destination, path, callOptions = {}) => {
    parseServerName(destination);
    if (typeof path !== "string" || !REQUEST_PATH.test(path)) {
      throw new MediaError("M_INVALID_PARAM", "Invalid federation request path", { status: 400 });
    }
    const { signal } = callOptions;
    let target: ResolvedServer;
    let res: SafeResponse;
    try {
      target = await discovery.resolve(destination, { signal });
      res = await safeFetch(`${target.url}${path}`, {
        connectTo: target.connectTo,
        headers: {
          accept: "application/json",
          authorization: authorize({ method: "GET", uri: path, destination }),
        },
        redirect: "error",
        timeoutMs,
        maxBytes: maxJsonBytes,
        signal,
      });
      return await readJson(res);
    } catch (error) {
      throw outboundError(error, signal);
    }
  };

  const context: DownloadContext = {
    safeFetch,
    discovery,
    authorize,
    timeoutMs,
    maxBytes,
    maxTimeoutMs: MAX_TIMEOUT_MS,
  };

  return {
    getJson,
    downloadMedia: async (origin, mediaId, callOptions = {}) => {
      parseServerName(origin);
      if (typeof mediaId !== "string" || !isValidMediaId(mediaId)) {
        throw new MediaError("M_INVALID_PARAM", "Invalid media ID", { status: 400 });
      }
      return downloadMedia(context, origin, mediaId, callOptions);
    },
    close: () => safeFetch.close(),
  };
}
