import { randomBytes } from "node:crypto";
import { channel } from "node:diagnostics_channel";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { MediaError } from "../errors.js";
import { isValidMediaId, isValidServerName } from "../ids/validate.js";
import type { MediaRecord } from "../metadata/types.js";
import type { MediaRepository, RepositoryLogger } from "../repository/types.js";
import {
  contentDisposition,
  etagMatches,
  isInlineType,
  parseRange,
  SECURITY_HEADERS,
  servedContentType,
} from "./headers.js";
import { matchRoute, parseTarget, type MatchedRoute, type MediaRouteName } from "./routes.js";

/** Who made a request, as the authentication hook says. */
export interface MediaUser {
  /** Matrix user ID. */
  userId: string;
  /** May call the admin routes. @defaultValue false */
  isAdmin?: boolean;
}

/** What the rate-limit hook sees. */
export interface RateLimitContext {
  route: MediaRouteName;
  /** Undefined for unauthenticated legacy downloads and federation requests. */
  user: MediaUser | undefined;
  /** The requesting server, for federation routes. */
  server?: string | undefined;
  /** The peer address. */
  ip: string | undefined;
  req: IncomingMessage;
}

/** Options of {@link createMediaHandler}. */
export interface MediaHandlerOptions {
  /**
   * Checks an access token (from `Authorization: Bearer` or `?access_token=`); resolves
   * to the user, or `undefined` for an unknown token (`401 M_UNKNOWN_TOKEN`). May throw a
   * `MediaError`. Requests without a token never reach it (`401 M_MISSING_TOKEN`).
   */
  authenticate: (
    req: IncomingMessage,
    credentials: { accessToken: string },
  ) => Promise<MediaUser | undefined>;
  /**
   * Verifies a federation request (the `X-Matrix` authorization) and resolves to the
   * requesting server's name, or `undefined` to refuse it (`401 M_UNAUTHORIZED`). When
   * given, the handler serves `GET /_matrix/federation/v1/media/download/{mediaId}` and
   * `.../thumbnail/{mediaId}` (local media only, as `multipart/mixed`); without it those
   * paths are not media routes (the handler resolves `false`).
   */
  authenticateServer?: (req: IncomingMessage) => Promise<string | undefined>;
  /**
   * Returns milliseconds to wait when the request is over a limit (`429 M_LIMIT_EXCEEDED`
   * with `Retry-After`), or `undefined` to let it through. Runs after authentication.
   */
  rateLimit?: (context: RateLimitContext) => Promise<number | undefined> | number | undefined;
  /**
   * Freezes the unauthenticated legacy `/_matrix/media/.../download` and `/thumbnail`
   * routes: `true` refuses all media there (`404 M_NOT_FOUND`), `{ after }` refuses media
   * created at or after that instant (ms since the epoch), as the spec's freeze suggests.
   * @defaultValue false
   */
  freezeLegacy?: boolean | { after: number };
  /**
   * `Cache-Control` of successful media responses.
   * @defaultValue `"private, max-age=31536000, immutable"`
   */
  cacheControl?: string;
  /** Logs unexpected errors (500s). */
  logger?: RepositoryLogger;
}

/**
 * Defaults of {@link MediaHandlerOptions}.
 *
 * @example
 * ```ts
 * createMediaHandler(repo, { authenticate, cacheControl: DEFAULT_MEDIA_HANDLER_OPTIONS.cacheControl });
 * ```
 */
export const DEFAULT_MEDIA_HANDLER_OPTIONS = Object.freeze({
  /** @defaultValue false */
  freezeLegacy: false,
  /** @defaultValue "private, max-age=31536000, immutable" */
  cacheControl: "private, max-age=31536000, immutable",
});

/**
 * Serves the Matrix media API; resolves `false` when the request is not a media route
 * (so a framework can fall through), `true` once it has been answered.
 */
export type MediaHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const requestChannel = channel("matrix-media-kit:http:request");

const THUMBNAIL_EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
  "image/gif": "gif",
  "image/avif": "avif",
};

function accessTokenOf(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1] : undefined;
  }
  return query.get("access_token") ?? undefined;
}

function optionalInt(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (!/^\d{1,15}$/.test(raw)) {
    throw new MediaError("M_INVALID_PARAM", `Expected a non-negative integer for ${name}`);
  }
  return Number(raw);
}

function optionalBool(query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw new MediaError("M_INVALID_PARAM", `Expected true or false for ${name}`);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
    ...extra,
  });
  res.end(text);
}

function sendError(
  res: ServerResponse,
  error: MediaError,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = { ...extra };
  if (error.retryAfterMs !== undefined)
    headers["Retry-After"] = String(Math.ceil(error.retryAfterMs / 1000));
  sendJson(res, error.status, error.toJSON(), headers);
}

/**
 * Creates the Matrix media API handler over a repository: the authenticated
 * `/_matrix/client/v1/media/*` routes, the legacy `/_matrix/media/{r0,v1,v3}/*` routes
 * (upload, create, PUT upload, download, thumbnail, preview_url, config) and the
 * Synapse-compatible admin routes (`quarantine`, `unquarantine`, `DELETE media`,
 * `purge_media_cache`), which only users marked `isAdmin` may call.
 *
 * Authentication runs before anything else; media IDs and server names are validated
 * before any storage call; every response carries the spec's sandbox CSP, `nosniff`,
 * `Cross-Origin-Resource-Policy: cross-origin` and CORS headers.
 *
 * Remote media (another origin) is served when it is in the store; fetching it over
 * federation is not implemented, so a foreign origin that is not stored is `404 M_NOT_FOUND`.
 *
 * Mount it before any body parser: uploads are streamed from the request.
 *
 * @example
 * ```ts
 * import http from "node:http";
 * import { createMediaHandler } from "matrix-media-kit/http";
 *
 * const handle = createMediaHandler(repo, {
 *   authenticate: async (_req, { accessToken }) =>
 *     accessToken === "secret" ? { userId: "@alice:example.org" } : undefined,
 * });
 * http.createServer(async (req, res) => {
 *   if (!(await handle(req, res))) {
 *     res.writeHead(404).end();
 *   }
 * }).listen(8008);
 * ```
 */
export function createMediaHandler(
  repo: MediaRepository,
  options: MediaHandlerOptions,
): MediaHandler {
  if (typeof repo?.lookup !== "function") {
    throw new TypeError("createMediaHandler expects a media repository (createMediaRepository())");
  }
  if (typeof options?.authenticate !== "function") {
    throw new TypeError(
      "Expected options.authenticate to be a function (req, { accessToken }) => user",
    );
  }
  if (options.rateLimit !== undefined && typeof options.rateLimit !== "function") {
    throw new TypeError("Expected options.rateLimit to be a function");
  }
  const freeze = options.freezeLegacy ?? DEFAULT_MEDIA_HANDLER_OPTIONS.freezeLegacy;
  if (
    typeof freeze !== "boolean" &&
    (typeof freeze !== "object" || freeze === null || !Number.isFinite(freeze.after))
  ) {
    throw new TypeError("Expected options.freezeLegacy to be a boolean or { after: number }");
  }
  const cacheControl = options.cacheControl ?? DEFAULT_MEDIA_HANDLER_OPTIONS.cacheControl;
  const { authenticate, authenticateServer, rateLimit, logger } = options;
  if (authenticateServer !== undefined && typeof authenticateServer !== "function") {
    throw new TypeError("Expected options.authenticateServer to be a function (req) => serverName");
  }

  const frozen = (record: MediaRecord): boolean =>
    freeze === true || (typeof freeze === "object" && record.createdAt >= freeze.after);

  const requiresAuth = (route: MatchedRoute): boolean =>
    !(route.family === "legacy" && (route.name === "download" || route.name === "thumbnail"));

  const validateIds = (route: MatchedRoute): { origin: string; mediaId: string } => {
    const origin = route.serverName ?? "";
    const mediaId = route.mediaId ?? "";
    if (!isValidServerName(origin)) throw new MediaError("M_INVALID_PARAM", "Invalid server name");
    if (!isValidMediaId(mediaId)) throw new MediaError("M_INVALID_PARAM", "Invalid media ID");
    return { origin, mediaId };
  };

  const abortSignalOf = (res: ServerResponse): AbortSignal => {
    const controller = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished)
        controller.abort(new MediaError("M_UNKNOWN", "Client disconnected"));
    };
    // "close" also fires when the client goes away mid-request.
    res.once("close", onClose);
    return controller.signal;
  };

  async function download(
    req: IncomingMessage,
    res: ServerResponse,
    route: MatchedRoute,
    query: URLSearchParams,
    user: MediaUser | undefined,
  ): Promise<void> {
    const { origin, mediaId } = validateIds(route);
    const timeoutMs = optionalInt(query, "timeout_ms");
    const allowRedirect = optionalBool(query, "allow_redirect") === true;
    if (
      route.family === "legacy" &&
      optionalBool(query, "allow_remote") === false &&
      !repo.isLocal(origin)
    ) {
      throw new MediaError("M_NOT_FOUND", "Remote media was not asked for (allow_remote=false)");
    }
    const signal = abortSignalOf(res);
    const record = await repo.lookup(origin, mediaId, { timeoutMs, signal });
    if (route.family === "legacy" && user === undefined && frozen(record)) {
      throw new MediaError(
        "M_NOT_FOUND",
        "Media not found (use the authenticated /_matrix/client/v1/media API)",
      );
    }
    const etag = `"${record.sha256}"`;
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      "Content-Type": servedContentType(record.contentType),
      "Content-Disposition": contentDisposition(
        isInlineType(record.contentType) ? "inline" : "attachment",
        route.fileName ?? record.filename,
      ),
      "Cache-Control": cacheControl,
      ETag: etag,
      "Accept-Ranges": "bytes",
    };
    if (etagMatches(req.headers["if-none-match"], etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const range = parseRange(req.headers.range, record.size);
    if (range.kind === "unsatisfiable") {
      sendError(res, new MediaError("M_INVALID_PARAM", "Range not satisfiable", { status: 416 }), {
        "Content-Range": `bytes */${record.size}`,
      });
      return;
    }
    if (req.method === "HEAD") {
      if (range.kind === "range") {
        headers["Content-Range"] = `bytes ${range.start}-${range.end}/${record.size}`;
        headers["Content-Length"] = range.end - range.start + 1;
        res.writeHead(206, headers);
      } else {
        headers["Content-Length"] = record.size;
        res.writeHead(200, headers);
      }
      res.end();
      return;
    }
    const body = await repo.read(record, {
      ...(range.kind === "range" ? { range: { start: range.start, end: range.end } } : {}),
      allowRedirect,
      signal,
    });
    if (body.redirect) {
      res.writeHead(307, {
        ...SECURITY_HEADERS,
        Location: body.redirect,
        "Cache-Control": "no-store",
      });
      res.end();
      return;
    }
    let status = 200;
    if (body.range) {
      status = 206;
      headers["Content-Range"] = `bytes ${body.range.start}-${body.range.end}/${body.size}`;
      headers["Content-Length"] = body.range.end - body.range.start + 1;
    } else {
      headers["Content-Length"] = body.size;
    }
    res.writeHead(status, headers);
    if (body.buffer) {
      res.end(body.buffer);
    } else if (body.stream) {
      try {
        await pipeline(body.stream, res);
      } catch {
        // The client went away or the store failed mid-stream; headers are gone, so the
        // connection is simply closed.
        res.destroy();
      }
    } else {
      res.end();
    }
  }

  async function thumbnail(
    req: IncomingMessage,
    res: ServerResponse,
    route: MatchedRoute,
    query: URLSearchParams,
    user: MediaUser | undefined,
  ): Promise<void> {
    const { origin, mediaId } = validateIds(route);
    const width = optionalInt(query, "width");
    const height = optionalInt(query, "height");
    if (width === undefined || height === undefined) {
      throw new MediaError("M_MISSING_PARAM", "width and height are required");
    }
    const methodRaw = query.get("method") ?? "scale";
    if (methodRaw !== "crop" && methodRaw !== "scale") {
      throw new MediaError("M_INVALID_PARAM", "Expected method crop or scale");
    }
    const animated = optionalBool(query, "animated");
    const timeoutMs = optionalInt(query, "timeout_ms");
    const signal = abortSignalOf(res);
    if (route.family === "legacy" && user === undefined && freeze !== false) {
      const record = await repo.lookup(origin, mediaId, { timeoutMs, signal });
      if (frozen(record)) throw new MediaError("M_NOT_FOUND", "Media not found");
    }
    const thumb = await repo.thumbnail(origin, mediaId, {
      width,
      height,
      method: methodRaw,
      animated,
      timeoutMs,
      signal,
    });
    const etag = `"${thumb.sha256}"`;
    const ext = THUMBNAIL_EXTENSIONS[thumb.contentType] ?? "bin";
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      "Content-Type": servedContentType(thumb.contentType),
      "Content-Disposition": contentDisposition("inline", `thumbnail.${ext}`),
      "Cache-Control": cacheControl,
      ETag: etag,
    };
    if (etagMatches(req.headers["if-none-match"], etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    headers["Content-Length"] = thumb.buffer.length;
    res.writeHead(200, headers);
    res.end(req.method === "HEAD" ? undefined : thumb.buffer);
  }

  async function upload(
    req: IncomingMessage,
    res: ServerResponse,
    route: MatchedRoute,
    query: URLSearchParams,
    user: MediaUser,
  ): Promise<void> {
    let ids: { origin: string; mediaId: string } | undefined;
    if (route.name === "upload_pending") {
      ids = validateIds(route);
      // Refuse before reading a byte: a second PUT is a 409 even with an empty body.
      await repo.checkPending(ids.origin, ids.mediaId, user.userId);
    }
    const lengthHeader = req.headers["content-length"];
    let contentLength: number | undefined;
    if (lengthHeader !== undefined) {
      if (!/^\d{1,15}$/.test(lengthHeader))
        throw new MediaError("M_INVALID_PARAM", "Invalid Content-Length");
      contentLength = Number(lengthHeader);
      if (contentLength > repo.limits.maxUploadBytes) {
        throw new MediaError(
          "M_TOO_LARGE",
          `Upload of ${contentLength} bytes exceeds the limit of ${repo.limits.maxUploadBytes} bytes`,
        );
      }
    }
    const signal = abortSignalOf(res);
    // Do not destroy the request when the upload stops early: the error response must
    // still reach the client.
    const source = req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
    const uploadOptions = {
      contentType: req.headers["content-type"],
      filename: query.get("filename") ?? undefined,
      uploader: user.userId,
      contentLength,
      signal,
    };
    const result = ids
      ? await repo.uploadPending(ids.origin, ids.mediaId, source, uploadOptions)
      : await repo.upload(source, uploadOptions);
    sendJson(res, 200, ids ? {} : { content_uri: result.mxc });
  }

  /** Serves local media to another server as `multipart/mixed`: metadata JSON, then the bytes. */
  async function federation(
    req: IncomingMessage,
    res: ServerResponse,
    route: MatchedRoute,
    query: URLSearchParams,
  ): Promise<void> {
    const mediaId = route.mediaId ?? "";
    if (!isValidMediaId(mediaId)) throw new MediaError("M_INVALID_PARAM", "Invalid media ID");
    const timeoutMs = optionalInt(query, "timeout_ms");
    // The federation path names no server: find the local name the media lives under.
    let origin = repo.serverNames[0]!;
    for (const name of repo.serverNames) {
      try {
        await repo.lookup(name, mediaId, { timeoutMs: 0 });
        origin = name;
        break;
      } catch (error) {
        if (MediaError.is(error) && error.errcode === "M_NOT_YET_UPLOADED") {
          origin = name;
          break;
        }
        if (!(MediaError.is(error) && error.errcode === "M_NOT_FOUND")) throw error;
      }
    }
    let contentType: string;
    let disposition: string;
    let bytes: Buffer | undefined;
    let stream: Readable | undefined;
    let size: number;
    if (route.name === "federation_thumbnail") {
      const width = optionalInt(query, "width");
      const height = optionalInt(query, "height");
      if (width === undefined || height === undefined) {
        throw new MediaError("M_MISSING_PARAM", "width and height are required");
      }
      const method = query.get("method") ?? "scale";
      if (method !== "crop" && method !== "scale") {
        throw new MediaError("M_INVALID_PARAM", "Expected method crop or scale");
      }
      const thumb = await repo.thumbnail(origin, mediaId, {
        width,
        height,
        method,
        animated: optionalBool(query, "animated"),
        timeoutMs,
      });
      contentType = servedContentType(thumb.contentType);
      disposition = contentDisposition(
        "inline",
        `thumbnail.${THUMBNAIL_EXTENSIONS[thumb.contentType] ?? "bin"}`,
      );
      bytes = thumb.buffer;
      size = bytes.length;
    } else {
      const record = await repo.lookup(origin, mediaId, { timeoutMs });
      const body = await repo.read(record);
      contentType = servedContentType(record.contentType);
      disposition = contentDisposition(
        isInlineType(record.contentType) ? "inline" : "attachment",
        record.filename,
      );
      bytes = body.buffer;
      stream = body.stream;
      size = body.size;
    }
    const boundary = randomBytes(16).toString("hex");
    const head = Buffer.from(
      `--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n` +
        `--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Disposition: ${disposition}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": `multipart/mixed; boundary=${boundary}`,
      "Content-Length": head.length + size + tail.length,
      "Cache-Control": "no-store",
    });
    if (req.method === "HEAD") {
      stream?.destroy();
      res.end();
      return;
    }
    res.write(head);
    if (bytes) {
      res.write(bytes);
    } else if (stream) {
      try {
        await pipeline(stream, res, { end: false });
      } catch {
        res.destroy();
        return;
      }
    }
    res.end(tail);
  }

  async function dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    route: MatchedRoute,
    query: URLSearchParams,
    user: MediaUser | undefined,
  ): Promise<void> {
    switch (route.name) {
      case "config":
        return sendJson(res, 200, repo.config());
      case "download":
        return download(req, res, route, query, user);
      case "thumbnail":
        return thumbnail(req, res, route, query, user);
      case "preview_url": {
        const url = query.get("url");
        if (!url) throw new MediaError("M_MISSING_PARAM", "url is required");
        const ts = optionalInt(query, "ts");
        const language = req.headers["accept-language"];
        const og = await repo.preview(url, {
          ts,
          language: typeof language === "string" ? language : undefined,
          userId: user!.userId,
          signal: abortSignalOf(res),
        });
        return sendJson(res, 200, og);
      }
      case "upload":
      case "upload_pending":
        return upload(req, res, route, query, user!);
      case "create": {
        const pending = await repo.createPending(user!.userId);
        return sendJson(res, 200, {
          content_uri: pending.mxc,
          unused_expires_at: pending.expiresAt,
        });
      }
      case "admin_quarantine":
      case "admin_unquarantine": {
        const { origin, mediaId } = validateIds(route);
        await repo.quarantine({ mxc: { origin, mediaId } }, route.name === "admin_quarantine");
        return sendJson(res, 200, {});
      }
      case "admin_delete": {
        const { origin, mediaId } = validateIds(route);
        if (!(await repo.delete(origin, mediaId)))
          throw new MediaError("M_NOT_FOUND", "Media not found");
        return sendJson(res, 200, { deleted_media: [mediaId], total: 1 });
      }
      case "federation_download":
      case "federation_thumbnail":
        return federation(req, res, route, query);
      case "admin_purge_remote": {
        const before = optionalInt(query, "before_ts");
        if (before === undefined) throw new MediaError("M_MISSING_PARAM", "before_ts is required");
        const { deleted } = await repo.purgeRemote(before);
        return sendJson(res, 200, { deleted });
      }
    }
  }

  return async function handleMedia(req, res) {
    const target = (req as { originalUrl?: string }).originalUrl ?? req.url ?? "/";
    const parsed = parseTarget(target, authenticateServer !== undefined);
    if (!parsed) return false;
    const method = req.method ?? "GET";
    const route = matchRoute(parsed);
    try {
      if (method === "OPTIONS") {
        res.writeHead(204, { ...SECURITY_HEADERS, "Access-Control-Max-Age": "86400" });
        res.end();
        return true;
      }
      let user: MediaUser | undefined;
      let server: string | undefined;
      const token = parsed.family === "federation" ? undefined : accessTokenOf(req, parsed.query);
      if (parsed.family === "federation") {
        server = await authenticateServer!(req);
        if (!server) {
          throw new MediaError("M_UNAUTHORIZED", "Federation request not authenticated", {
            status: 401,
          });
        }
      } else if (token === undefined) {
        if (!route || requiresAuth(route)) {
          throw new MediaError("M_MISSING_TOKEN", "Missing access token");
        }
      } else {
        user = await authenticate(req, { accessToken: token });
        if (!user) throw new MediaError("M_UNKNOWN_TOKEN", "Unrecognised access token");
      }
      if (!route) throw new MediaError("M_UNRECOGNIZED", "Unrecognized request");
      if (!route.methods.includes(method)) {
        throw new MediaError("M_UNRECOGNIZED", `Method ${method} is not allowed here`, {
          status: 405,
        });
      }
      if (route.family === "admin" && user?.isAdmin !== true) {
        throw new MediaError("M_FORBIDDEN", "You are not a server admin");
      }
      if (rateLimit) {
        const wait = await rateLimit({
          route: route.name,
          user,
          server,
          ip: req.socket.remoteAddress,
          req,
        });
        if (wait !== undefined) {
          throw new MediaError("M_LIMIT_EXCEEDED", "Too many requests", {
            retryAfterMs: Math.max(0, wait),
          });
        }
      }
      if (requestChannel.hasSubscribers) requestChannel.publish({ route: route.name, user });
      await dispatch(req, res, route, parsed.query, user);
    } catch (error) {
      let mediaError: MediaError;
      if (MediaError.is(error)) {
        mediaError = error;
        if (mediaError.status >= 500 && mediaError.errcode !== "M_NOT_YET_UPLOADED") {
          logger?.error("media request failed", { error, route: route?.name });
        }
      } else {
        logger?.error("media request failed", { error, route: route?.name });
        mediaError = new MediaError("M_UNKNOWN", "Internal server error", { cause: error });
      }
      const extra: Record<string, string> = {};
      if (mediaError.status === 405 && route) extra.Allow = route.methods.join(", ");
      if (req.method !== "GET" && req.method !== "HEAD" && !req.complete)
        extra.Connection = "close";
      sendError(res, mediaError, extra);
    }
    return true;
  };
}
