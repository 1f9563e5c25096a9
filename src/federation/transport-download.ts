// One remote media download: the signed federation request, its multipart body (bytes or a
// Location to fetch without our Authorization), and the optional legacy fallback. One
// deadline covers discovery and every hop's headers and body.
import { MediaError } from "../errors.js";
import type { SafeFetch, SafeResponse } from "../preview/safe-fetch-options.js";
import type { DownloadMediaOptions, FederationAuthorizer, RemoteMediaResponse } from "./client.js";
import type { ResolvedServer, ServerDiscovery } from "./discovery.js";
import { remoteMediaHeaders } from "./media.js";
import { readFederationMultipart } from "./multipart.js";
import {
  badRemote,
  countedStream,
  isUnrecognized,
  outboundError,
  remoteError,
  remoteErrorInfo,
} from "./transport-response.js";

/** What a download needs from its client. @internal */
export interface DownloadContext {
  safeFetch: SafeFetch;
  discovery: ServerDiscovery;
  authorize: FederationAuthorizer;
  timeoutMs: number;
  maxBytes: number;
  maxTimeoutMs: number;
}

/** Room for the JSON part and the part headers around the media bytes. */
const MULTIPART_OVERHEAD = 96 * 1024;

function callInteger(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(
      `Expected an integer ${min}-${max} for ${name} but received ${typeof value === "number" ? value : typeof value}`,
    );
  }
  return value;
}

/** The state of one download. */
interface Download {
  readonly context: DownloadContext;
  readonly origin: string;
  readonly mediaId: string;
  readonly maxBytes: number;
  readonly signal: AbortSignal | undefined;
  readonly deadline: number;
}

/** Milliseconds left; a 504 once the deadline passed. */
function remaining(download: Download): number {
  const left = download.deadline - Date.now();
  if (left <= 0)
    throw new MediaError("M_UNKNOWN", "Timed out waiting for the remote server", { status: 504 });
  return left;
}

/** A successful media response (or part) as the caller's stream, counted and released. */
function mediaOf(
  download: Download,
  headers: Record<string, string | string[] | undefined>,
  source: SafeResponse["body"],
  res: SafeResponse,
  via: RemoteMediaResponse["via"],
): RemoteMediaResponse {
  const media = remoteMediaHeaders(headers);
  const declared = media.contentLength;
  if (declared !== undefined && Number.isNaN(declared)) {
    source.destroy();
    res.cancel();
    throw badRemote("The remote server sent an invalid Content-Length");
  }
  if (declared !== undefined && declared > download.maxBytes) {
    source.destroy();
    res.cancel();
    throw new MediaError("M_TOO_LARGE", "The remote media is larger than allowed", { status: 502 });
  }
  const stream = countedStream(source, {
    maxBytes: download.maxBytes,
    declared,
    release: () => res.cancel(),
  });
  return { ...media, stream, via };
}

/** Fetches a multipart `Location` (no Authorization; http(s) only, no userinfo; guarded). */
async function fetchLocation(
  download: Download,
  location: string,
  base: string,
): Promise<RemoteMediaResponse> {
  let url: URL;
  try {
    url = new URL(location, base);
  } catch (error) {
    throw new MediaError("M_UNKNOWN", "The remote server sent an invalid Location", {
      status: 502,
      cause: error,
    });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw badRemote("The remote server sent a Location that is not http(s)");
  if (url.username !== "" || url.password !== "")
    throw badRemote("The remote server sent a Location with credentials");
  const res = await download.context.safeFetch(url, {
    timeoutMs: remaining(download),
    maxBytes: download.maxBytes,
    signal: download.signal,
  });
  if (res.status !== 200) throw remoteError(await remoteErrorInfo(res));
  return mediaOf(download, res.headers, res.body, res, "location");
}

/** `GET /_matrix/media/v3/download/...?allow_remote=false`, unsigned. */
async function fetchLegacy(
  download: Download,
  target: ResolvedServer,
): Promise<RemoteMediaResponse> {
  const path = `/_matrix/media/v3/download/${encodeURIComponent(download.origin)}/${download.mediaId}?allow_remote=false`;
  const res = await download.context.safeFetch(`${target.url}${path}`, {
    connectTo: target.connectTo,
    timeoutMs: remaining(download),
    maxBytes: download.maxBytes,
    signal: download.signal,
  });
  if (res.status !== 200) throw remoteError(await remoteErrorInfo(res));
  return mediaOf(download, res.headers, res.body, res, "legacy");
}

async function run(download: Download, legacyFallback: boolean): Promise<RemoteMediaResponse> {
  const { context, origin, mediaId, signal } = download;
  const target = await raceDeadline(context.discovery.resolve(origin, { signal }), download);
  const path = `/_matrix/federation/v1/media/download/${mediaId}`;
  const res = await context.safeFetch(`${target.url}${path}`, {
    connectTo: target.connectTo,
    headers: {
      authorization: context.authorize({ method: "GET", uri: path, destination: origin }),
    },
    redirect: "error",
    timeoutMs: remaining(download),
    maxBytes: download.maxBytes + MULTIPART_OVERHEAD,
    signal,
  });
  if (res.status !== 200) {
    const info = await remoteErrorInfo(res);
    if (legacyFallback && isUnrecognized(info)) return fetchLegacy(download, target);
    throw remoteError(info);
  }
  const contentType = res.headers["content-type"];
  let parsed;
  try {
    parsed = await readFederationMultipart(
      res.body,
      typeof contentType === "string" ? contentType : undefined,
    );
  } catch (error) {
    res.cancel();
    throw error;
  }
  const { part } = parsed;
  if (part.location !== undefined) {
    res.cancel();
    return fetchLocation(download, part.location, target.url);
  }
  return mediaOf(download, part.headers, part.stream!, res, "federation");
}

/** Discovery under the download's deadline (a shared lookup keeps running for others). */
async function raceDeadline<T>(promise: Promise<T>, download: Download): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(
            new MediaError("M_UNKNOWN", "Timed out waiting for the remote server", { status: 504 }),
          );
        }, remaining(download));
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Downloads validated `origin`/`mediaId`; every failure is a MediaError (or the caller's abort). @internal */
export async function downloadMedia(
  context: DownloadContext,
  origin: string,
  mediaId: string,
  options: DownloadMediaOptions,
): Promise<RemoteMediaResponse> {
  const timeoutMs = callInteger(
    "timeoutMs",
    options.timeoutMs,
    context.timeoutMs,
    1,
    context.maxTimeoutMs,
  );
  const maxBytes = callInteger(
    "maxBytes",
    options.maxBytes,
    context.maxBytes,
    0,
    Number.MAX_SAFE_INTEGER,
  );
  const download: Download = {
    context,
    origin,
    mediaId,
    maxBytes,
    signal: options.signal,
    deadline: Date.now() + timeoutMs,
  };
  try {
    return await run(download, options.legacyFallback === true);
  } catch (error) {
    throw outboundError(error, options.signal);
  }
}
