// Response headers that keep user content from becoming XSS, and byte-range parsing.
import { canonicalContentType, OPAQUE_CONTENT_TYPE, safeFilename } from "./media-type.js";

/**
 * Content types a browser may render inline (Matrix spec v1.12, "Serving inline content").
 * Everything else is served as an attachment.
 *
 * @example
 * ```ts
 * INLINE_CONTENT_TYPES.has("image/png"); // true
 * ```
 */
export const INLINE_CONTENT_TYPES: ReadonlySet<string> = new Set([
  "text/css",
  "text/plain",
  "text/csv",
  "application/json",
  "application/ld+json",
  "image/jpeg",
  "image/gif",
  "image/png",
  "image/apng",
  "image/webp",
  "image/avif",
  "video/mp4",
  "video/webm",
  "video/ogg",
  "video/quicktime",
  "audio/mp4",
  "audio/webm",
  "audio/aac",
  "audio/mpeg",
  "audio/ogg",
  "audio/wave",
  "audio/wav",
  "audio/x-wav",
  "audio/x-pn-wav",
  "audio/flac",
  "audio/x-flac",
]);

/**
 * The sandbox policy the spec recommends for media responses.
 *
 * @example
 * ```ts
 * res.setHeader("Content-Security-Policy", MEDIA_CSP);
 * ```
 */
export const MEDIA_CSP =
  "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; " +
  "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

/**
 * Headers every media response (200, 206, 304, 416, errors) carries: the sandbox CSP,
 * `nosniff`, `Cross-Origin-Resource-Policy: cross-origin` and CORS.
 *
 * @example
 * ```ts
 * res.writeHead(404, { ...SECURITY_HEADERS, "Content-Type": "application/json" });
 * ```
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Content-Security-Policy": MEDIA_CSP,
  "X-Content-Type-Options": "nosniff",
  "Cross-Origin-Resource-Policy": "cross-origin",
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers":
    "Origin, X-Requested-With, Content-Type, Accept, Authorization, Date",
  "Access-Control-Expose-Headers": "Content-Disposition, Content-Length, Content-Range, ETag",
});

/**
 * The lower-case `type/subtype` of a content type, without parameters, read the way
 * {@link canonicalContentType} reads it (a comma or a parse failure gives
 * `application/octet-stream`).
 *
 * @example
 * ```ts
 * mimeEssence("Text/Plain; charset=utf-8"); // "text/plain"
 * ```
 */
export function mimeEssence(contentType: string): string {
  const canonical = canonicalContentType(contentType) ?? OPAQUE_CONTENT_TYPE;
  const semi = canonical.indexOf(";");
  return semi === -1 ? canonical : canonical.slice(0, semi);
}

/**
 * The Content-Type to serve: the canonical form of the stored type
 * ({@link canonicalContentType}), `application/octet-stream` when missing, ambiguous (a comma)
 * or unparseable, with `charset=utf-8` added to `text/*` types that name none.
 *
 * @example
 * ```ts
 * servedContentType("img/png");              // "img/png"
 * servedContentType("text/plain");           // "text/plain; charset=utf-8"
 * servedContentType("image/png;,text/html"); // "application/octet-stream"
 * servedContentType(undefined);              // "application/octet-stream"
 * ```
 */
export function servedContentType(contentType: string | null | undefined): string {
  const canonical = canonicalContentType(contentType) ?? OPAQUE_CONTENT_TYPE;
  if (canonical.startsWith("text/") && !/;\s*charset=/.test(canonical)) {
    return `${canonical}; charset=utf-8`;
  }
  return canonical;
}

/**
 * True when the spec allows serving this content type inline, judged on its canonical form
 * (`image/png;,text/html` is not inline).
 *
 * @example
 * ```ts
 * isInlineType("image/svg+xml"); // false: served as an attachment
 * ```
 */
export function isInlineType(contentType: string): boolean {
  return INLINE_CONTENT_TYPES.has(mimeEssence(contentType));
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

// RFC 5987 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
function encodeRfc5987(value: string): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9!#$&+\-.^_`|~]/.test(ch)
      ? ch
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * A Content-Disposition value: `inline` or `attachment`, with the filename as a token,
 * a quoted string, or an RFC 5987 `filename*` when it is not printable ASCII. The name is
 * {@link safeFilename}'s: no control characters or bidi overrides, at most 255 bytes of UTF-8.
 *
 * @example
 * ```ts
 * contentDisposition("inline", "cat.png");          // inline; filename=cat.png
 * contentDisposition("attachment", "a;b c");        // attachment; filename="a;b c"
 * contentDisposition("attachment", "☕");           // attachment; filename*=utf-8''%E2%98%95
 * ```
 */
export function contentDisposition(
  type: "inline" | "attachment",
  filename: string | null | undefined,
): string {
  const name = safeFilename(filename);
  if (name === undefined) return type;
  if (TOKEN.test(name)) return `${type}; filename=${name}`;
  if (PRINTABLE_ASCII.test(name)) {
    return `${type}; filename="${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  }
  return `${type}; filename*=utf-8''${encodeRfc5987(name)}`;
}

/** A single inclusive byte range, or why none applies. */
export type RangeResult =
  { kind: "none" } | { kind: "range"; start: number; end: number } | { kind: "unsatisfiable" };

/**
 * Parses a `Range` header against a representation of `size` bytes. Only one range is
 * honoured: a header with several ranges (or a malformed one) is ignored and the whole
 * representation is sent, so a client cannot amplify a response with overlapping ranges.
 *
 * @example
 * ```ts
 * parseRange("bytes=0-9", 100);     // { kind: "range", start: 0, end: 9 }
 * parseRange("bytes=0-9,5-20", 100); // { kind: "none" }: the whole file
 * parseRange("bytes=200-", 100);     // { kind: "unsatisfiable" }: 416
 * ```
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: "none" };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return { kind: "none" };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "" && last === "") return { kind: "none" };
  if (first === "") {
    // Suffix range: the last N bytes.
    const n = Number(last);
    if (!Number.isSafeInteger(n) || n === 0) return { kind: "unsatisfiable" };
    if (size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return { kind: "none" };
  if (last !== "" && Number(last) < start) return { kind: "none" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start, end };
}

/**
 * True when an `If-None-Match` header matches the ETag.
 *
 * @example
 * ```ts
 * etagMatches('"abc", "def"', '"def"'); // true
 * ```
 */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}
