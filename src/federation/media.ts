// The headers of remote media: a bounded reading of Content-Disposition (filename and the
// RFC 5987 filename*, which wins) and of Content-Type / Content-Length.
import { canonicalContentType, safeFilename } from "../http/media-type.js";

/** Longest Content-Disposition value parsed; a longer one is ignored. @internal */
const MAX_DISPOSITION_LENGTH = 4096;

/** What {@link parseContentDisposition} found. */
export interface ParsedContentDisposition {
  /** `inline`, `attachment` or another token, lower-cased. */
  type: string;
  /** The file name, sanitised ({@link safeFilename}: no controls or bidi overrides, at most 255 bytes). */
  filename?: string;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `name=value` pairs after the type; values are tokens or quoted strings. */
function parameters(rest: string): Map<string, string> {
  const out = new Map<string, string>();
  const param = /;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)\s*/gy;
  let match: RegExpExecArray | null;
  while ((match = param.exec(rest)) !== null) {
    const name = match[1]!.toLowerCase();
    let value = match[2]!;
    if (value.startsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, "$1");
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

/** An RFC 5987 `charset'lang'pct-encoded` value (UTF-8 or ISO-8859-1), or undefined. */
function decodeExtValue(value: string): string | undefined {
  const match = /^([A-Za-z0-9!#$%&+^_`{}~-]+)'[A-Za-z0-9-]*'(.*)$/.exec(value);
  if (match === null) return undefined;
  const charset = match[1]!.toLowerCase();
  const encoded = match[2]!;
  if (!/^(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+.^_`|~-])*$/.test(encoded)) return undefined;
  if (charset === "utf-8") {
    try {
      return decodeURIComponent(encoded);
    } catch {
      return undefined;
    }
  }
  if (charset === "iso-8859-1") {
    return Buffer.from(
      encoded.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) =>
        String.fromCharCode(parseInt(hex, 16)),
      ),
      "latin1",
    ).toString("latin1");
  }
  return undefined;
}

/**
 * Parses a Content-Disposition header of remote media. `filename*` (RFC 5987, UTF-8 or
 * ISO-8859-1) wins over `filename`; the result is sanitised and at most 255 bytes. Values
 * longer than 4096 characters, or without a valid type, give `undefined`.
 *
 * @example
 * ```ts
 * parseContentDisposition(`attachment; filename="a.txt"; filename*=UTF-8''%E2%98%95.txt`);
 * // { type: "attachment", filename: "☕.txt" }
 * ```
 */
export function parseContentDisposition(
  value: string | undefined,
): ParsedContentDisposition | undefined {
  if (value === undefined || value.length > MAX_DISPOSITION_LENGTH) return undefined;
  const semicolon = value.indexOf(";");
  const type = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  if (!TOKEN.test(type)) return undefined;
  const params = semicolon === -1 ? new Map<string, string>() : parameters(value.slice(semicolon));
  const extended = params.get("filename*");
  const raw =
    (extended === undefined ? undefined : decodeExtValue(extended)) ?? params.get("filename");
  const filename = safeFilename(raw);
  return filename === undefined ? { type } : { type, filename };
}

/** The media headers of a remote response or part. @internal */
export interface RemoteMediaHeaders {
  contentType: string;
  filename?: string;
  contentLength?: number;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Content-Type (canonical; `application/octet-stream` when absent or unparseable), the file
 * name and a declared Content-Length (`NaN` when present but not a decimal integer).
 * @internal
 */
export function remoteMediaHeaders(
  headers: Record<string, string | string[] | undefined>,
): RemoteMediaHeaders {
  const out: RemoteMediaHeaders = {
    contentType:
      canonicalContentType(single(headers["content-type"])) ?? "application/octet-stream",
  };
  const filename = parseContentDisposition(single(headers["content-disposition"]))?.filename;
  if (filename !== undefined) out.filename = filename;
  const length = single(headers["content-length"]);
  if (length !== undefined)
    out.contentLength = /^\d{1,16}$/.test(length.trim()) ? Number(length) : NaN;
  return out;
}
