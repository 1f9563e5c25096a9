// Writing a response: every route builds its headers with mediaHeaders() and writes its body
// with sendBody() or sendJson(), so the security headers, types and lengths are decided once.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { MediaError } from "../errors.js";
import type { MediaRecord } from "../metadata/types.js";
import type { RepositoryLogger, ThumbnailBody } from "../repository/types.js";
import { isClientAbort, resourceExhaustion } from "./guards.js";
import {
  contentDisposition,
  isInlineType,
  SECURITY_HEADERS,
  servedContentType,
} from "./headers.js";
import type { HandlerStats } from "./stats.js";

/**
 * What the headers say about a stored body: its served type, disposition and ETag.
 * @internal
 */
export interface MediaEntity {
  contentType: string;
  disposition: string;
  etag: string;
}

const THUMBNAIL_EXTENSIONS: Readonly<Record<string, string>> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
  "image/gif": "gif",
  "image/avif": "avif",
};

/**
 * Media as uploaded (its canonical Content-Type): inline only for the spec's allowlist, named
 * by the path's file name when the client gave one.
 * @internal
 */
export function recordEntity(record: MediaRecord, fileName?: string): MediaEntity {
  // Disposition is decided on the very value served, so the two can never disagree.
  const contentType = servedContentType(record.contentType);
  return {
    contentType,
    disposition: contentDisposition(
      isInlineType(contentType) ? "inline" : "attachment",
      fileName ?? record.filename,
    ),
    etag: `"${record.sha256}"`,
  };
}

/** Thumbnails are always inline, named after their type. @internal */
export function thumbnailEntity(thumb: ThumbnailBody): MediaEntity {
  const ext = THUMBNAIL_EXTENSIONS[thumb.contentType] ?? "bin";
  return {
    contentType: servedContentType(thumb.contentType),
    disposition: contentDisposition("inline", `thumbnail.${ext}`),
    etag: `"${thumb.sha256}"`,
  };
}

/**
 * What {@link mediaHeaders} puts in a response.
 * @internal
 */
export interface MediaHeaderInit {
  /** A stored body: its Content-Type, Content-Disposition and ETag. */
  entity?: MediaEntity | undefined;
  /** Content-Type of a generated body (JSON, multipart), when there is no entity. */
  contentType?: string | undefined;
  cacheControl?: string | undefined;
  /** Advertise `Accept-Ranges: bytes`. */
  acceptRanges?: boolean | undefined;
  /** Total size of the representation: `Content-Length`, unless `range` narrows it. */
  size?: number | undefined;
  /** The inclusive byte range carried (a 206): `Content-Range` and its length. */
  range?: { start: number; end: number } | undefined;
  /** Anything route-specific (`Location`, `Retry-After`, `Allow`, …). */
  extra?: Readonly<Record<string, string>> | undefined;
}

/**
 * The headers of every media API response: the sandbox CSP, `nosniff`, CORP and CORS first,
 * then type, disposition, caching and length.
 * @internal
 */
export function mediaHeaders(init: MediaHeaderInit): Record<string, string | number> {
  const headers: Record<string, string | number> = { ...SECURITY_HEADERS };
  const { entity } = init;
  if (entity) {
    headers["Content-Type"] = entity.contentType;
    headers["Content-Disposition"] = entity.disposition;
  } else if (init.contentType !== undefined) {
    headers["Content-Type"] = init.contentType;
  }
  if (init.cacheControl !== undefined) headers["Cache-Control"] = init.cacheControl;
  if (entity) headers.ETag = entity.etag;
  if (init.acceptRanges) headers["Accept-Ranges"] = "bytes";
  if (init.size !== undefined) {
    const { range } = init;
    if (range) {
      headers["Content-Range"] = `bytes ${range.start}-${range.end}/${init.size}`;
      headers["Content-Length"] = range.end - range.start + 1;
    } else {
      headers["Content-Length"] = init.size;
    }
  }
  return init.extra ? Object.assign(headers, init.extra) : headers;
}

/**
 * A body to send: bytes in memory or a stream, optionally framed (a multipart part).
 * @internal
 */
export interface ResponseBody {
  buffer?: Buffer | undefined;
  stream?: Readable | undefined;
  /** Written before and after the bytes. */
  frame?: { head: Buffer; tail: Buffer } | undefined;
}

/**
 * Writes the status, headers and body. A HEAD request gets the headers only (an open stream
 * is released). When a stream fails midway the headers are gone, so the connection is closed
 * rather than answered.
 * @internal
 */
export async function sendBody(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number>,
  body: ResponseBody = {},
): Promise<void> {
  res.writeHead(status, headers);
  const { buffer, stream, frame } = body;
  if (req.method === "HEAD" || (!buffer && !stream && !frame)) {
    stream?.destroy();
    res.end();
    return;
  }
  if (frame) res.write(frame.head);
  if (buffer) {
    if (!frame) {
      res.end(buffer);
      return;
    }
    res.write(buffer);
  } else if (stream) {
    try {
      await pipeline(stream, res, { end: !frame });
    } catch {
      // The client went away or the store failed mid-stream.
      res.destroy();
      return;
    }
    if (!frame) return;
  }
  res.end(frame?.tail);
}

/** @internal */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra?: Readonly<Record<string, string>>,
): void {
  const text = JSON.stringify(body);
  res.writeHead(
    status,
    mediaHeaders({
      contentType: "application/json",
      cacheControl: "no-store",
      size: Buffer.byteLength(text),
      extra,
    }),
  );
  res.end(text);
}

/**
 * What a `429` without a retry time of its own tells the client to wait.
 * @internal
 */
export const DEFAULT_RETRY_AFTER_MS = 5_000;

/** Every 429 carries a retry time (`Retry-After` and `retry_after_ms`), as the spec asks. */
function withRetryTime(error: MediaError): MediaError {
  if (error.status !== 429 || error.retryAfterMs !== undefined) return error;
  return new MediaError(error.errcode, error.message, {
    status: error.status,
    retryAfterMs: DEFAULT_RETRY_AFTER_MS,
    cause: error,
  });
}

/**
 * Answers with a Matrix error, or closes the connection when a response was already started.
 * @internal
 */
export function sendError(
  res: ServerResponse,
  error: MediaError,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const answered = withRetryTime(error);
  if (answered.retryAfterMs !== undefined) {
    extra["Retry-After"] = String(Math.ceil(answered.retryAfterMs / 1000));
  }
  sendJson(res, answered.status, answered.toJSON(), extra);
}

/** What {@link sendFailure} reports to. @internal */
export interface FailureSink {
  logger: RepositoryLogger | undefined;
  stats: HandlerStats;
}

/** 5xx answers that are decisions, not failures: no error line. */
const DELIBERATE_5XX: ReadonlySet<string> = new Set(["M_NOT_YET_UPLOADED", "M_LIMIT_EXCEEDED"]);

/** The client's error for whatever a route threw, and whether it deserves an error line. */
function classify(
  req: IncomingMessage,
  res: ServerResponse,
  error: unknown,
  route: string | undefined,
  sink: FailureSink,
): MediaError {
  if (MediaError.is(error) && error.status < 500) return error;
  const exhausted = resourceExhaustion(error);
  if (exhausted) {
    sink.stats.resourceExhausted(error, route);
    return exhausted;
  }
  if (isClientAbort(req, res, error)) {
    sink.stats.abort({ route, reason: "client" }, { error });
  } else if (!MediaError.is(error) || !DELIBERATE_5XX.has(error.errcode)) {
    sink.logger?.error("media request failed", { error, route });
  }
  return MediaError.is(error)
    ? error
    : new MediaError("M_UNKNOWN", "Internal server error", { cause: error });
}

/**
 * Turns whatever a route threw into the client's error response. A client that went away is
 * counted and logged at debug; running out of descriptors or memory is a retryable `503`;
 * anything else that is not a `MediaError`, and unexpected 5xx, is logged and answered
 * `500 M_UNKNOWN`.
 * @internal
 */
export function sendFailure(
  req: IncomingMessage,
  res: ServerResponse,
  error: unknown,
  context: { route: string | undefined; allow: readonly string[] | undefined },
  sink: FailureSink,
): void {
  const mediaError = classify(req, res, error, context.route, sink);
  const extra: Record<string, string> = {};
  if (mediaError.status === 405 && context.allow) extra.Allow = context.allow.join(", ");
  // An unread request body would be parsed as the next request on a kept-alive connection.
  if (req.method !== "GET" && req.method !== "HEAD" && !req.complete) extra.Connection = "close";
  sendError(res, mediaError, extra);
}
