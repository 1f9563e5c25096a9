// Width, height and type of an image from its first bytes, for og:image:* fields.
// Deliberately tiny: the preview path must not load sharp.

/** What {@link readImageInfo} found. */
export interface ImageInfo {
  /** `image/png`, `image/jpeg`, `image/gif` or `image/webp`. */
  contentType: string;
  width: number;
  height: number;
}

function png(b: Buffer): ImageInfo | undefined {
  // Signature, then the IHDR chunk: length(4) "IHDR" width(4) height(4).
  if (
    b.length < 24 ||
    b.readUInt32BE(0) !== 0x89504e47 ||
    b.toString("latin1", 12, 16) !== "IHDR"
  ) {
    return undefined;
  }
  return { contentType: "image/png", width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

function gif(b: Buffer): ImageInfo | undefined {
  const sig = b.toString("latin1", 0, 6);
  if (b.length < 10 || (sig !== "GIF87a" && sig !== "GIF89a")) return undefined;
  return { contentType: "image/gif", width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
}

function jpeg(b: Buffer): ImageInfo | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) {
      i++;
      continue;
    }
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const length = b.readUInt16BE(i + 2);
    // SOF0–SOF15 except DHT (c4), JPG (c8) and DAC (cc) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return {
        contentType: "image/jpeg",
        height: b.readUInt16BE(i + 5),
        width: b.readUInt16BE(i + 7),
      };
    }
    if (length < 2) return undefined;
    i += 2 + length;
  }
  return undefined;
}

function webp(b: Buffer): ImageInfo | undefined {
  if (
    b.length < 30 ||
    b.toString("latin1", 0, 4) !== "RIFF" ||
    b.toString("latin1", 8, 12) !== "WEBP"
  ) {
    return undefined;
  }
  const chunk = b.toString("latin1", 12, 16);
  if (chunk === "VP8 ") {
    // Key frame start code 9d 01 2a, then 14-bit width and height.
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
    return {
      contentType: "image/webp",
      width: b.readUInt16LE(26) & 0x3fff,
      height: b.readUInt16LE(28) & 0x3fff,
    };
  }
  if (chunk === "VP8L") {
    if (b[20] !== 0x2f) return undefined;
    const bits = b.readUInt32LE(21);
    return {
      contentType: "image/webp",
      width: (bits & 0x3fff) + 1,
      height: ((bits >> 14) & 0x3fff) + 1,
    };
  }
  if (chunk === "VP8X") {
    return {
      contentType: "image/webp",
      width: b.readUIntLE(24, 3) + 1,
      height: b.readUIntLE(27, 3) + 1,
    };
  }
  return undefined;
}

/**
 * Reads the type and dimensions of a PNG, JPEG, GIF or WebP from its bytes (the header is
 * enough). The type comes from the bytes, never from a `Content-Type` header. `undefined`
 * for anything else or a truncated header.
 *
 * @example
 * ```ts
 * readImageInfo(pngBytes); // { contentType: "image/png", width: 279, height: 129 }
 * ```
 */
export function readImageInfo(bytes: Buffer | Uint8Array): ImageInfo | undefined {
  const b = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const info = png(b) ?? gif(b) ?? jpeg(b) ?? webp(b);
  if (!info || info.width <= 0 || info.height <= 0) return undefined;
  return info;
}
