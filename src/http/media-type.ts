// The one reading of an uploaded Content-Type and file name. Browsers and `fetch` split a
// Content-Type header on commas and take the last type they can parse, so `image/png;,text/html`
// is HTML to them whatever a lenient parser makes of it: a type with a comma, or one the WHATWG
// "parse a MIME type" algorithm refuses, becomes `application/octet-stream` (served as an
// attachment). Upload, storage, the datastore's own Content-Type and the served headers all use
// the value canonicalContentType() returns, so the inline/attachment decision is made on the
// same bytes a browser sees.
import { MIMEType } from "whatwg-mimetype";

/** What unparseable or ambiguous types are stored and served as. @internal */
export const OPAQUE_CONTENT_TYPE = "application/octet-stream";

const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function serializeParameter(name: string, value: string): string {
  if (value !== "" && HTTP_TOKEN.test(value)) return `; ${name}=${value}`;
  return `; ${name}="${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * The canonical form of a Content-Type: the lower-case essence, then each parameter as
 * `; name=value` (names lower-cased, first occurrence wins, values quoted when not a token),
 * per the WHATWG MIME Sniffing Standard. Anything with a comma, a control or non-ASCII
 * character, or that does not parse, is `application/octet-stream`; an absent or empty value is
 * `undefined` (the repository sniffs the bytes).
 *
 * @example
 * ```ts
 * canonicalContentType("TEXT/HTML; Charset=UTF-8"); // "text/html; charset=UTF-8"
 * canonicalContentType("image/png;,text/html");     // "application/octet-stream"
 * canonicalContentType("garbage");                   // "application/octet-stream"
 * ```
 */
export function canonicalContentType(value: string | null | undefined): string | undefined {
  if (value === undefined || value === null || value.trim() === "") return undefined;
  if (value.includes(",") || !/^[\t\x20-\x7e]*$/.test(value)) return OPAQUE_CONTENT_TYPE;
  const parsed = MIMEType.parse(value);
  if (!parsed) return OPAQUE_CONTENT_TYPE;
  let out = parsed.essence;
  for (const [name, parameter] of parsed.parameters) out += serializeParameter(name, parameter);
  return out;
}

/** Longest file name kept, in UTF-8 bytes (nginx's default proxy buffers are 4–8 KiB). @internal */
export const MAX_FILENAME_BYTES = 255;

// Bidi embeddings/overrides (U+202A–U+202E) and isolates (U+2066–U+2069) make `txt.exe`
// display as `exe.txt`; C0 (but tab) and C1 controls never belong in a header.
const UNSAFE_FILENAME_CHARS =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A file name safe to store and to put in `Content-Disposition`: bidi overrides, isolates and
 * control characters removed, then cut to at most 255 bytes of UTF-8 at a character boundary
 * (never inside a surrogate pair). `undefined` when nothing is left.
 *
 * @example
 * ```ts
 * safeFilename("evil\u202Egpj.exe"); // "evilgpj.exe"
 * safeFilename("☕".repeat(100));    // 85 cups: 255 bytes
 * ```
 */
export function safeFilename(name: string | null | undefined): string | undefined {
  if (!name) return undefined;
  const cleaned = name.replace(UNSAFE_FILENAME_CHARS, "");
  let bytes = 0;
  let end = 0;
  for (const char of cleaned) {
    const size = Buffer.byteLength(char, "utf8");
    if (bytes + size > MAX_FILENAME_BYTES) break;
    bytes += size;
    end += char.length;
  }
  const kept = cleaned.slice(0, end);
  return kept === "" ? undefined : kept;
}
