// The reader of a federation media download: `multipart/mixed` with a JSON part, then either
// the media (its own headers, then the bytes, streamed) or a `Location` header to fetch it
// from. Only the JSON part and the part headers are buffered, each with a small cap.
//
//   --B CRLF  Content-Type: application/json CRLF CRLF  {json}
//   CRLF --B CRLF  Content-Type: image/png CRLF ... CRLF CRLF  <bytes, streamed>
//   CRLF --B--
import type { Readable } from "node:stream";
import { MIMEType } from "whatwg-mimetype";
import { ByteReader, multipartError } from "./transport-bytes.js";

/**
 * Caps of the buffered pieces of a federation multipart body.
 *
 * @example
 * ```ts
 * FEDERATION_MULTIPART_LIMITS.jsonBytes; // 65536: a larger JSON part is refused
 * ```
 */
export const FEDERATION_MULTIPART_LIMITS = Object.freeze({
  /** The JSON part. @defaultValue 65536 */
  jsonBytes: 64 * 1024,
  /** The header block of one part. @defaultValue 16384 */
  headerBytes: 16 * 1024,
  /** The preamble before the first boundary. @defaultValue 4096 */
  preambleBytes: 4 * 1024,
  /** Header lines of one part. @defaultValue 64 */
  headerLines: 64,
});

/** The second part of a federation download. */
export interface FederationMediaPart {
  /** The part's headers, names lower-cased. */
  headers: Record<string, string>;
  /** Set when the part redirects to a URL instead of carrying the bytes. */
  location?: string;
  /** The media bytes, ending exactly at the closing boundary; absent with `location`. */
  stream?: Readable;
}

/** A parsed federation download. */
export interface FederationMultipart {
  /** The parsed JSON part (currently always an object, usually empty). */
  json: unknown;
  part: FederationMediaPart;
}

// RFC 2046: 1-70 characters of bchars, not ending with a space.
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");
const DASHES = Buffer.from("--");

/**
 * The boundary of a `multipart/mixed` Content-Type (quoted or not); throws a 502 `MediaError`
 * for any other type or a missing or invalid boundary.
 * @internal
 */
export function multipartBoundary(contentType: string | undefined): string {
  const parsed = contentType === undefined ? null : MIMEType.parse(contentType);
  if (parsed === null || parsed.essence !== "multipart/mixed") {
    throw multipartError("the Content-Type is not multipart/mixed");
  }
  const boundary = parsed.parameters.get("boundary");
  if (boundary === undefined || !BOUNDARY.test(boundary)) {
    throw multipartError("missing or invalid boundary");
  }
  return boundary;
}

/** Reads the rest of a delimiter line and the header block that follows it. */
async function readPartHeaders(reader: ByteReader): Promise<Record<string, string>> {
  const { headerBytes, headerLines } = FEDERATION_MULTIPART_LIMITS;
  // The delimiter line's own CRLF is still buffered, so an empty header block is found too.
  const block = (await reader.readUntil(HEADER_END, headerBytes, "a part's headers")).toString(
    "latin1",
  );
  const lines = block.split("\r\n");
  // What follows the boundary on its line may only be transport padding.
  if (!/^[ \t]*$/.test(lines.shift() ?? "")) throw multipartError("garbage after a boundary");
  if (lines.length > headerLines) throw multipartError("too many part headers");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(line.slice(0, colon))) {
      throw multipartError("a malformed part header");
    }
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** True when the closing delimiter (`--`) follows; throws at the end of the body. */
async function isClosing(reader: ByteReader): Promise<boolean> {
  const next = await reader.peek(2);
  if (next.length < 2) throw multipartError("the body ends before the closing boundary");
  return next.equals(DASHES);
}

/**
 * Reads a federation download body (`multipart/mixed`) as a stream: the JSON part (at most
 * 64 KiB; a larger one is refused as soon as that many bytes arrived), then the media part's
 * headers, then either its `Location` or a stream of its bytes that ends exactly at the next
 * boundary (boundaries split across chunks are handled; the bytes are never buffered whole).
 * A wrong type or boundary, a first part that is not `application/json`, a missing second
 * part or a truncated body is a 502 `MediaError` (thrown, or raised by the stream). Errors of
 * `body` itself pass through unchanged. Destroying the returned stream destroys `body`.
 *
 * @example
 * ```ts
 * const { json, part } = await readFederationMultipart(res.body, res.headers["content-type"]);
 * if (part.location) console.log("fetch", part.location);
 * else part.stream!.pipe(fs.createWriteStream("media.bin"));
 * ```
 */
export async function readFederationMultipart(
  body: Readable,
  contentType: string | undefined,
): Promise<FederationMultipart> {
  let boundary: string;
  try {
    boundary = multipartBoundary(contentType);
  } catch (error) {
    body.on("error", () => {});
    body.destroy();
    throw error;
  }
  // A leading CRLF makes the first delimiter look like every other one.
  const reader = new ByteReader(body, Buffer.from(CRLF));
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  try {
    await reader.readUntil(delimiter, FEDERATION_MULTIPART_LIMITS.preambleBytes, "the preamble");
    if (await isClosing(reader)) throw multipartError("no parts");
    const jsonHeaders = await readPartHeaders(reader);
    const jsonType = MIMEType.parse(jsonHeaders["content-type"] ?? "");
    if (jsonType?.essence !== "application/json") {
      throw multipartError("the first part is not application/json");
    }
    const raw = await reader.readUntil(
      delimiter,
      FEDERATION_MULTIPART_LIMITS.jsonBytes,
      "the JSON part",
    );
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      throw multipartError("the first part is not valid JSON");
    }
    if (await isClosing(reader)) throw multipartError("the media part is missing");
    const headers = await readPartHeaders(reader);
    if (headers.location !== undefined) {
      reader.close();
      return { json, part: { headers, location: headers.location } };
    }
    const stream = reader.streamUntil(delimiter, async () => {
      // A third part is tolerated (and ignored); a body cut right after the boundary is not.
      await isClosing(reader);
    });
    return { json, part: { headers, stream } };
  } catch (error) {
    reader.close();
    throw error;
  }
}
