// The spec's "unpadded Base64": standard alphabet, no `=`. Decoding is lenient (padding and
// the URL-safe alphabet are accepted) as the spec asks, but never silently skips junk.

const LENIENT = /^[A-Za-z0-9+/\-_]*={0,2}$/;

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
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  return text.slice(0, end);
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
  if (!LENIENT.test(text)) return undefined;
  const body = text.replace(/=+$/, "");
  if (body.length % 4 === 1) return undefined;
  if (text.length !== body.length && text.length % 4 !== 0) return undefined;
  // Node's base64 decoder reads both alphabets.
  return Buffer.from(body, "base64");
}
