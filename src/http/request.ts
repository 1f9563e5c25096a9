// Reading a request: credentials, query parameters and IDs. Only syntax is checked here;
// limits and what a parameter may mean (sizes, thumbnail methods) belong to the repository.
import type { IncomingMessage, ServerResponse } from "node:http";
import { MediaError } from "../errors.js";
import { isValidMediaId, isValidServerName } from "../ids/validate.js";
import type { ThumbnailMethod } from "../thumbnail/index.js";
import type { RouteParams } from "./target.js";

const DECIMAL = /^\d{1,15}$/;

/**
 * The access token of a client request and where it came from: `Authorization: Bearer`, else
 * `?access_token=`. A malformed `Authorization` header is no token at all (the query is not
 * consulted).
 * @internal
 */
export function accessTokenOf(
  req: IncomingMessage,
  query: URLSearchParams,
): { token: string | undefined; source: "header" | "query" } | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return { token: match?.[1], source: "header" };
  }
  const token = query.get("access_token");
  return token === null ? undefined : { token, source: "query" };
}

/** @internal */
export function optionalInt(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (!DECIMAL.test(raw)) {
    throw new MediaError("M_INVALID_PARAM", `Expected a non-negative integer for ${name}`);
  }
  return Number(raw);
}

/** @internal */
export function requiredInt(query: URLSearchParams, name: string): number {
  const value = optionalInt(query, name);
  if (value === undefined) throw new MediaError("M_MISSING_PARAM", `${name} is required`);
  return value;
}

/** @internal */
export function optionalBool(query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw new MediaError("M_INVALID_PARAM", `Expected true or false for ${name}`);
}

/**
 * The parameters of a thumbnail request.
 * @internal
 */
export interface ThumbnailQuery {
  width: number;
  height: number;
  /** As sent; the repository applies its default and refuses unknown methods. */
  method: ThumbnailMethod | undefined;
  animated: boolean | undefined;
  timeoutMs: number | undefined;
}

/**
 * Reads `width`, `height`, `method`, `animated` and `timeout_ms`: both sizes must be
 * present and decimal; whether they are usable (positive, a known method) is the
 * repository's call.
 * @internal
 */
export function parseThumbnailQuery(query: URLSearchParams): ThumbnailQuery {
  const width = optionalInt(query, "width");
  const height = optionalInt(query, "height");
  if (width === undefined || height === undefined) {
    throw new MediaError("M_MISSING_PARAM", "width and height are required");
  }
  return {
    width,
    height,
    // The word is handed on as sent: the repository owns the list of methods.
    method: (query.get("method") ?? undefined) as ThumbnailMethod | undefined,
    animated: optionalBool(query, "animated"),
    timeoutMs: optionalInt(query, "timeout_ms"),
  };
}

/**
 * The declared `Content-Length` of an upload, or `undefined` for a chunked body. The
 * repository refuses one over its limit before reading a byte.
 * @internal
 */
export function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers["content-length"];
  if (header === undefined) return undefined;
  if (!DECIMAL.test(header)) throw new MediaError("M_INVALID_PARAM", "Invalid Content-Length");
  return Number(header);
}

/**
 * The origin and media ID a route names, refused before any storage call when they do not
 * follow the grammar (`..`, `%2F` and NUL never reach a store).
 * @internal
 */
export function mediaIdsOf(params: RouteParams): { origin: string; mediaId: string } {
  const origin = params.serverName ?? "";
  if (!isValidServerName(origin)) throw new MediaError("M_INVALID_PARAM", "Invalid server name");
  return { origin, mediaId: mediaIdOf(params) };
}

/** The media ID alone, for federation paths that name no server. @internal */
export function mediaIdOf(params: RouteParams): string {
  const mediaId = params.mediaId ?? "";
  if (!isValidMediaId(mediaId)) throw new MediaError("M_INVALID_PARAM", "Invalid media ID");
  return mediaId;
}

/**
 * A signal that fires when the client goes away before the response is finished.
 * @internal
 */
export function disconnectSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  // "close" also fires when the client goes away mid-request.
  res.once("close", () => {
    if (!res.writableFinished) controller.abort(new MediaError("M_UNKNOWN", "Client disconnected"));
  });
  return controller.signal;
}
