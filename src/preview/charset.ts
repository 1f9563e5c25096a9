// Picks the encoding of an HTML document from its first bytes and its Content-Type.

/** Bytes looked at for `<meta charset>` and the XML declaration (the HTML prescan window). */
export const CHARSET_SNIFF_BYTES = 1024;

function supported(label: string): string | undefined {
  try {
    const encoding = new TextDecoder(label.trim().toLowerCase()).encoding;
    return encoding;
  } catch {
    return undefined;
  }
}

function fromBom(head: Uint8Array): string | undefined {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return "utf-8";
  if (head[0] === 0xfe && head[1] === 0xff) return "utf-16be";
  if (head[0] === 0xff && head[1] === 0xfe) return "utf-16le";
  return undefined;
}

/** The `charset` parameter of a Content-Type header, if any. */
export function charsetOfContentType(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? "");
  return match?.[1];
}

/**
 * The encoding a document declares: byte order mark, `<meta charset>` / `http-equiv` in the
 * first {@link CHARSET_SNIFF_BYTES} bytes, the XML declaration, then the Content-Type header.
 * Undefined when none of them names a supported encoding.
 * @internal
 */
export function declaredCharset(head: Uint8Array, contentType?: string): string | undefined {
  const bom = fromBom(head);
  if (bom) return bom;
  const ascii = Buffer.from(
    head.buffer,
    head.byteOffset,
    Math.min(head.byteLength, CHARSET_SNIFF_BYTES),
  ).toString("latin1");
  const prescan = (label: string | undefined): string | undefined => {
    if (!label) return undefined;
    const encoding = supported(label);
    if (encoding === "utf-16le" || encoding === "utf-16be") return "utf-8";
    if (label.trim().toLowerCase() === "x-user-defined") return "windows-1252";
    return encoding;
  };
  const meta = /<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.-]+)/i.exec(ascii);
  const fromMeta = prescan(meta?.[1]);
  if (fromMeta) return fromMeta;
  const xml = /^\s*<\?xml[^>]*?encoding\s*=\s*["']?([a-zA-Z0-9_:.-]+)/i.exec(ascii);
  const fromXml = prescan(xml?.[1]);
  if (fromXml) return fromXml;
  const header = charsetOfContentType(contentType);
  return header ? supported(header) : undefined;
}

/**
 * True when `bytes` are valid UTF-8, allowing a sequence cut off at the end (the rest of the
 * document may complete it).
 * @internal
 */
export function isUtf8Prefix(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * The encoding to decode an HTML document with, as a `TextDecoder` label. Order: byte order
 * mark, `<meta charset>` / `http-equiv` in the first {@link CHARSET_SNIFF_BYTES} bytes, the
 * XML declaration, the Content-Type header; when none declares one, UTF-8 if `head` is valid
 * UTF-8 and windows-1252 otherwise (what browsers and Synapse fall back to). A UTF-16 label
 * found by the ASCII prescan means UTF-8 (a document readable as ASCII is not UTF-16),
 * `x-user-defined` means windows-1252, and an unknown label falls through to the next source.
 *
 * @example
 * ```ts
 * detectCharset(Buffer.from('<meta charset="iso-8859-1">'), "text/html"); // "windows-1252"
 * detectCharset(Buffer.from([0x3c, 0x70, 0x3e, 0xf3]), "text/html"); // "windows-1252"
 * ```
 */
export function detectCharset(head: Uint8Array, contentType?: string): string {
  return declaredCharset(head, contentType) ?? (isUtf8Prefix(head) ? "utf-8" : "windows-1252");
}
