// What the fetcher reads from a guarded response before its body: the media type, whether
// it is compressed, and the errors for statuses and types that cannot be previewed.
import { MediaError } from "../errors.js";
import type { SafeResponse } from "./safe-fetch-options.js";

/** @internal */
export const HTML_TYPES: ReadonlySet<string> = new Set(["text/html", "application/xhtml+xml"]);
/** @internal */
export const IMAGE_TYPES: ReadonlySet<string> = new Set([
  "image/png",
  "image/jpeg",
  "image/jpg",
  "image/gif",
  "image/webp",
]);
/** @internal */
export const JSON_TYPES: ReadonlySet<string> = new Set([
  "application/json",
  "application/json+oembed",
  "text/json",
  "text/javascript",
]);

/** The raw Content-Type header. @internal */
export function contentTypeHeader(res: SafeResponse): string | undefined {
  const raw = res.headers["content-type"];
  return Array.isArray(raw) ? raw[0] : raw;
}

/** The media type, lower-case, without parameters. @internal */
export function mimeOf(res: SafeResponse): string {
  return (contentTypeHeader(res) ?? "").split(";")[0]!.trim().toLowerCase();
}

/** We ask for `identity`; a server that compresses anyway would defeat the wire byte cap. @internal */
export function encoded(res: SafeResponse): boolean {
  const raw = res.headers["content-encoding"];
  const value = (Array.isArray(raw) ? raw.join(",") : (raw ?? "")).trim().toLowerCase();
  return value !== "" && value !== "identity";
}

/** @internal */
export function upstreamStatus(res: SafeResponse): MediaError {
  res.cancel();
  return new MediaError("M_UNKNOWN", `The URL returned HTTP ${res.status}`, { status: 502 });
}

/** @internal */
export function unsupported(res: SafeResponse): MediaError {
  res.cancel();
  return new MediaError("M_UNKNOWN", "The URL's content type cannot be previewed", { status: 502 });
}

/** `Accept` and, unless empty, `Accept-Language`. @internal */
export function requestHeaders(accept: string, language: string): Record<string, string> {
  const headers: Record<string, string> = { accept };
  if (language !== "") headers["accept-language"] = language;
  return headers;
}
