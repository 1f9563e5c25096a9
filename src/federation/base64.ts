// The spec's "unpadded Base64": standard alphabet, no `=`. Decoding is lenient (padding and
// the URL-safe alphabet are accepted) as the spec asks, but never silently skips junk.

/** Both alphabets, standard (`+/`) and URL-safe (`-_`), by char code. */
const ALPHABET = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_") {
  ALPHABET[c.charCodeAt(0)] = 1;
}

/**
 * Encodes bytes as unpadded standard Base64, the encoding of every key and signature in
 * Matrix JSON.
 *
 * @example
 * ```ts
 * encodeBase64(Buffer.from("hi")); // "aGk"
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Unpadded, n bytes take ceil(4n / 3) characters: the rest is "=" padding.
  return buffer.toString("base64").slice(0, Math.ceil((buffer.length * 4) / 3));
}

/**
 * Decodes Base64, padded or unpadded, standard or URL-safe alphabet. Returns `undefined` for
 * text that is not Base64 (other characters, or a length no encoding produces), so a hostile
 * key or signature is refused rather than decoded to garbage.
 *
 * @example
 * ```ts
 * decodeBase64("aGk")?.toString(); // "hi"
 * decodeBase64("aGk=")?.toString(); // "hi"
 * decodeBase64("not base64!"); // undefined
 * ```
 */
export function decodeBase64(text: string): Buffer | undefined {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  const padding = text.length - end;
  if (padding > 2 || (padding > 0 && text.length % 4 !== 0) || end % 4 === 1) return undefined;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || ALPHABET[c] !== 1) return undefined;
  }
  // Node's base64 decoder reads both alphabets.
  return Buffer.from(padding === 0 ? text : text.slice(0, end), "base64");
}
