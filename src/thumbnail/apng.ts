// APNG frames, which libvips cannot decode (it reads only the default image): every frame is
// rewrapped as a standalone PNG, decoded by the same allowlisted libvips PNG loader, and
// composited here following the APNG dispose and blend rules. Each composed frame is shrunk
// straight away to the working size, so memory stays at one full-size canvas plus the small
// frame stack.
import sharp, { type SharpOptions } from "sharp";
import { MediaError } from "../errors.js";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Chunk {
  type: string;
  data: Buffer;
  /** The whole chunk (length, type, data, CRC) as stored. */
  raw: Buffer;
}

interface FrameControl {
  width: number;
  height: number;
  x: number;
  y: number;
  delayMs: number;
  dispose: number;
  blend: number;
  data: Buffer[];
}

/** What the animation control chunks say, read without decoding anything. */
export interface ApngInfo {
  frames: number;
  loop: number;
  delay: number[];
}

const corrupt = (why: string): MediaError =>
  new MediaError("M_UNKNOWN", `Image is corrupt, truncated or cannot be decoded (APNG: ${why})`, {
    status: 400,
  });

function chunksOf(png: Buffer): Chunk[] {
  const out: Chunk[] = [];
  let o = 8;
  while (o + 12 <= png.length) {
    const len = png.readUInt32BE(o);
    const end = o + 12 + len;
    if (end > png.length) throw corrupt("chunk runs past the end");
    out.push({
      type: png.toString("latin1", o + 4, o + 8),
      data: png.subarray(o + 8, o + 8 + len),
      raw: png.subarray(o, end),
    });
    o = end;
    if (out.at(-1)!.type === "IEND") break;
  }
  return out;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function parseFrames(chunks: Chunk[]): { frames: FrameControl[]; loop: number } {
  const actl = chunks.find((c) => c.type === "acTL");
  if (!actl || actl.data.length < 8) throw corrupt("no animation control chunk");
  const frames: FrameControl[] = [];
  let current: FrameControl | undefined;
  for (const c of chunks) {
    if (c.type === "fcTL") {
      if (c.data.length < 26) throw corrupt("short frame control chunk");
      const den = c.data.readUInt16BE(22) || 100;
      current = {
        width: c.data.readUInt32BE(4),
        height: c.data.readUInt32BE(8),
        x: c.data.readUInt32BE(12),
        y: c.data.readUInt32BE(16),
        delayMs: Math.round((c.data.readUInt16BE(20) * 1000) / den),
        dispose: c.data[24]!,
        blend: c.data[25]!,
        data: [],
      };
      frames.push(current);
    } else if (c.type === "IDAT" && current) {
      // The default image is the first frame only when an fcTL precedes it.
      current.data.push(c.data);
    } else if (c.type === "fdAT" && current) {
      if (c.data.length < 4) throw corrupt("short frame data chunk");
      current.data.push(c.data.subarray(4));
    }
  }
  return { frames: frames.filter((f) => f.data.length > 0), loop: actl.data.readUInt32BE(4) };
}

/** Reads the animation control chunks (cheap: no decompression). */
export function apngInfo(png: Buffer): ApngInfo | undefined {
  try {
    const { frames, loop } = parseFrames(chunksOf(png));
    return { frames: frames.length, loop, delay: frames.map((f) => f.delayMs) };
  } catch {
    return undefined;
  }
}

/** Rewraps one frame as a standalone PNG and decodes it with the allowlisted PNG loader. */
async function decodeFrame(
  ihdr: Buffer,
  shared: Buffer[],
  f: FrameControl,
  i: number,
  loaderOptions: SharpOptions,
): Promise<Buffer> {
  const header = Buffer.from(ihdr);
  header.writeUInt32BE(f.width, 0);
  header.writeUInt32BE(f.height, 4);
  const framePng = Buffer.concat([
    SIGNATURE,
    chunk("IHDR", header),
    ...shared,
    ...f.data.map((d) => chunk("IDAT", d)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
  const pixels = await sharp(framePng, { ...loaderOptions, autoOrient: false })
    .toColourspace("srgb")
    .ensureAlpha()
    .raw({ depth: "uchar" })
    .toBuffer();
  if (pixels.length !== f.width * f.height * 4) throw corrupt(`frame ${i} has the wrong size`);
  return pixels;
}

/** Draws a frame's pixels on the canvas: replaced (blend 0) or alpha-composited "over". */
function blendOnto(canvas: Buffer, W: number, pixels: Buffer, f: FrameControl): void {
  for (let y = 0; y < f.height; y++) {
    const src = y * f.width * 4;
    const dst = ((f.y + y) * W + f.x) * 4;
    if (f.blend === 0) {
      pixels.copy(canvas, dst, src, src + f.width * 4);
      continue;
    }
    for (let x = 0; x < f.width * 4; x += 4) {
      const sa = pixels[src + x + 3]!;
      if (sa === 255) {
        canvas[dst + x] = pixels[src + x]!;
        canvas[dst + x + 1] = pixels[src + x + 1]!;
        canvas[dst + x + 2] = pixels[src + x + 2]!;
        canvas[dst + x + 3] = 255;
      } else if (sa > 0) {
        const da = canvas[dst + x + 3]!;
        const oa = sa + (da * (255 - sa)) / 255;
        for (let c = 0; c < 3; c++) {
          canvas[dst + x + c] = Math.round(
            (pixels[src + x + c]! * sa + (canvas[dst + x + c]! * da * (255 - sa)) / 255) / oa,
          );
        }
        canvas[dst + x + 3] = Math.round(oa);
      }
    }
  }
}

/** Applies a frame's dispose op after it was output: clear its region, or restore `saved`. */
function disposeFrame(
  canvas: Buffer,
  W: number,
  f: FrameControl,
  dispose: number,
  saved: Buffer | undefined,
): void {
  if (dispose === 1) {
    for (let y = 0; y < f.height; y++) {
      const dst = ((f.y + y) * W + f.x) * 4;
      canvas.fill(0, dst, dst + f.width * 4);
    }
  } else if (saved) {
    for (let y = 0; y < f.height; y++) {
      saved.copy(canvas, ((f.y + y) * W + f.x) * 4, y * f.width * 4, (y + 1) * f.width * 4);
    }
  }
}

/**
 * Decodes the first `maxFrames` frames of an APNG, composes them on a canvas of the image's
 * size and returns them shrunk to `work` (width × height per frame), stacked vertically as
 * 8-bit RGBA, ready for `sharp(data, { raw: { ..., pageHeight }, pages: -1 })`.
 */
export async function decodeApng(
  png: Buffer,
  maxFrames: number,
  work: { width: number; height: number },
  loaderOptions: SharpOptions,
): Promise<{
  data: Buffer;
  width: number;
  pageHeight: number;
  frames: number;
  delay: number[];
  loop: number;
}> {
  const chunks = chunksOf(png);
  const ihdr = chunks[0];
  if (!ihdr || ihdr.type !== "IHDR" || ihdr.data.length !== 13) throw corrupt("no IHDR");
  const W = ihdr.data.readUInt32BE(0);
  const H = ihdr.data.readUInt32BE(4);
  const { frames, loop } = parseFrames(chunks);
  const firstData = chunks.findIndex((c) => c.type === "IDAT");
  // Chunks every frame needs to decode like the default image (palette, transparency, colour).
  const shared = chunks
    .slice(1, firstData)
    .filter((c) => ["PLTE", "tRNS", "gAMA", "cHRM", "sRGB", "iCCP", "sBIT"].includes(c.type))
    .map((c) => c.raw);
  const canvas = Buffer.alloc(W * H * 4);
  const out: Buffer[] = [];
  const delay: number[] = [];
  const n = Math.min(frames.length, maxFrames);
  for (let i = 0; i < n; i++) {
    const f = frames[i]!;
    if (f.width < 1 || f.height < 1 || f.x + f.width > W || f.y + f.height > H) {
      throw corrupt(`frame ${i} lies outside the canvas`);
    }
    const pixels = await decodeFrame(ihdr.data, shared, f, i, loaderOptions);
    // Dispose "previous" needs the region as it was before this frame (on the first frame it
    // means "background").
    const dispose = i === 0 && f.dispose === 2 ? 1 : f.dispose;
    const saved = dispose === 2 ? copyRegion(canvas, W, f) : undefined;
    blendOnto(canvas, W, pixels, f);
    out.push(
      await sharp(canvas, { raw: { width: W, height: H, channels: 4 } })
        .resize(work.width, work.height, { fit: "fill" })
        .raw()
        .toBuffer(),
    );
    delay.push(f.delayMs);
    disposeFrame(canvas, W, f, dispose, saved);
  }
  if (out.length === 0) throw corrupt("no frames");
  return {
    data: Buffer.concat(out),
    width: work.width,
    pageHeight: work.height,
    frames: out.length,
    delay,
    loop,
  };
}

function copyRegion(canvas: Buffer, W: number, f: FrameControl): Buffer {
  const region = Buffer.alloc(f.width * f.height * 4);
  for (let y = 0; y < f.height; y++) {
    const src = ((f.y + y) * W + f.x) * 4;
    canvas.copy(region, y * f.width * 4, src, src + f.width * 4);
  }
  return region;
}
