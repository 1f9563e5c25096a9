// Fixture builders for the thumbnailer tests: everything is generated here (with sharp's
// encoders or by writing the container bytes directly), nothing is downloaded.
import { crc32, deflateSync } from "node:zlib";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import sharp, { type Sharp } from "sharp";

export type Rgb = [number, number, number];

/** A width × height RGB(A) image split into a left part of colour `a` and the rest `b`. */
export async function split(
  width: number,
  height: number,
  splitX: number,
  a: Rgb,
  b: Rgb,
  alpha = false,
): Promise<Sharp> {
  const channels = alpha ? 4 : 3;
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels;
      const c = x < splitX ? a : b;
      raw[o] = c[0];
      raw[o + 1] = c[1];
      raw[o + 2] = c[2];
      if (alpha) raw[o + 3] = x % 2 === 0 ? 255 : 128;
    }
  }
  return sharp(raw, { raw: { width, height, channels } });
}

/** A photo-like (noisy gradient) image so encoders and decoders do real work. */
export function photo(width: number, height: number): Sharp {
  return sharp({
    create: {
      width,
      height,
      channels: 3,
      background: "#000",
      noise: { type: "gaussian", mean: 120, sigma: 35 },
    },
  });
}

/** `frames` visibly different frames (a bar growing left to right), stacked for sharp. */
export function animationFrames(width: number, height: number, frames: number): Sharp {
  const raw = Buffer.alloc(width * height * frames * 3);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = ((f * height + y) * width + x) * 3;
        const on = x < ((f + 1) * width) / frames;
        raw[o] = on ? 250 : 10;
        raw[o + 1] = (f * 37) % 256;
        raw[o + 2] = on ? 10 : 200;
      }
    }
  }
  return sharp(raw, { raw: { width, height: height * frames, channels: 3, pageHeight: height } });
}

export async function animatedGif(width: number, height: number, frames: number): Promise<Buffer> {
  return animationFrames(width, height, frames)
    .gif({ delay: Array<number>(frames).fill(80), loop: 0 })
    .toBuffer();
}

export async function animatedWebp(width: number, height: number, frames: number): Promise<Buffer> {
  return animationFrames(width, height, frames)
    .webp({ delay: Array<number>(frames).fill(80), loop: 0, lossless: true })
    .toBuffer();
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Splits a PNG into its chunks. */
function chunks(png: Buffer): Array<{ type: string; data: Buffer }> {
  const out: Array<{ type: string; data: Buffer }> = [];
  let o = 8;
  while (o < png.length) {
    const len = png.readUInt32BE(o);
    out.push({
      type: png.toString("latin1", o + 4, o + 8),
      data: png.subarray(o + 8, o + 8 + len),
    });
    o += 12 + len;
  }
  return out;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A small PNG whose header claims width × height (RGB, 8 bit) with a few KB of real,
 * valid zlib data: decoding it would need width × height × 3 bytes.
 */
export function pngBomb(width = 65535, height = 65535): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  // A few rows of zeros (filter byte 0 + pixels): compresses to well under a kilobyte.
  const rows = Buffer.alloc((width * 3 + 1) * 4);
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/**
 * A two-frame APNG built from two same-sized PNGs: the default image is `first`, the second
 * frame is `second`'s image data as fdAT.
 */
export function apng(first: Buffer, second: Buffer, width: number, height: number): Buffer {
  const a = chunks(first);
  const b = chunks(second);
  const fctl = (seq: number): Buffer => {
    const d = Buffer.alloc(26);
    d.writeUInt32BE(seq, 0);
    d.writeUInt32BE(width, 4);
    d.writeUInt32BE(height, 8);
    d.writeUInt32BE(0, 12);
    d.writeUInt32BE(0, 16);
    d.writeUInt16BE(1, 20); // delay numerator
    d.writeUInt16BE(10, 22); // delay denominator
    d[24] = 0;
    d[25] = 0;
    return chunk("fcTL", d);
  };
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(2, 0);
  actl.writeUInt32BE(0, 4);
  const parts: Buffer[] = [PNG_SIGNATURE];
  let seq = 0;
  let wroteAnimation = false;
  for (const c of a) {
    if (c.type === "IDAT" && !wroteAnimation) {
      parts.push(chunk("acTL", actl), fctl(seq++));
      wroteAnimation = true;
    }
    if (c.type === "IEND") {
      parts.push(fctl(seq++));
      for (const d of b.filter((x) => x.type === "IDAT")) {
        const s = Buffer.alloc(4);
        s.writeUInt32BE(seq++);
        parts.push(chunk("fdAT", Buffer.concat([s, d.data])));
      }
    }
    parts.push(chunk(c.type, c.data));
  }
  return Buffer.concat(parts);
}

/** Splits a GIF into header (through the global colour table), frame blocks and trailer. */
function gifBlocks(gif: Buffer): { head: Buffer; frames: Buffer[] } {
  let o = 13;
  const flags = gif[10]!;
  if (flags & 0x80) o += 3 * (1 << ((flags & 7) + 1));
  const head = gif.subarray(0, o);
  const frames: Buffer[] = [];
  let frameStart = o;
  const skipSubBlocks = (): void => {
    while (gif[o] !== 0) o += gif[o]! + 1;
    o++;
  };
  for (;;) {
    const b = gif[o];
    if (b === 0x3b) break;
    if (b === 0x21) {
      const label = gif[o + 1];
      o += 2;
      skipSubBlocks();
      // The application extension (loop count) belongs to the header, not a frame.
      if (label === 0xff) frameStart = o;
    } else if (b === 0x2c) {
      const f = gif[o + 9]!;
      o += 10;
      if (f & 0x80) o += 3 * (1 << ((f & 7) + 1));
      o++; // LZW minimum code size
      skipSubBlocks();
      frames.push(gif.subarray(frameStart, o));
      frameStart = o;
    } else {
      throw new Error(`unexpected GIF block 0x${b?.toString(16)} at ${o}`);
    }
  }
  return { head, frames };
}

/**
 * A GIF with `count` frames of width × height, made by repeating the two frames of a small
 * sharp-encoded GIF (A, B, A, B...) so consecutive frames differ.
 */
export async function manyFrameGif(width: number, height: number, count: number): Promise<Buffer> {
  const two = await animatedGif(width, height, 2);
  const { head, frames } = gifBlocks(two);
  if (frames.length !== 2) throw new Error(`expected 2 frames, got ${frames.length}`);
  const loop = Buffer.from([
    0x21,
    0xff,
    0x0b,
    ...Buffer.from("NETSCAPE2.0"),
    0x03,
    0x01,
    0x00,
    0x00,
    0x00,
  ]);
  const body: Buffer[] = [head, loop];
  for (let i = 0; i < count; i++) body.push(frames[i % 2]!);
  body.push(Buffer.from([0x3b]));
  return Buffer.concat(body);
}

/** Collects the events published on a diagnostics channel while `fn` runs. */
export async function collectEvents<T = unknown>(
  name: string,
  fn: () => Promise<T> | Promise<unknown>,
): Promise<{ events: any[]; result?: T; error?: unknown }> {
  const events: any[] = [];
  const listener = (message: unknown): void => {
    events.push(message);
  };
  subscribe(name, listener);
  try {
    return { events, result: (await fn()) as T };
  } catch (error) {
    return { events, error };
  } finally {
    unsubscribe(name, listener);
  }
}

/** The RGB values of one pixel of an encoded image. */
export async function pixel(image: Buffer, x: number, y: number): Promise<Rgb> {
  const px = await sharp(image)
    .removeAlpha()
    .extract({ left: x, top: y, width: 1, height: 1 })
    .raw()
    .toBuffer();
  return [px[0]!, px[1]!, px[2]!];
}

/** True when `c` is within `tolerance` of `want` on every channel. */
export function near(c: Rgb, want: Rgb, tolerance = 40): boolean {
  return c.every((v, i) => Math.abs(v - want[i]!) <= tolerance);
}

/** One frame of {@link apngSequence}: a PNG of the frame's own size placed at x, y. */
export interface ApngFrame {
  png: Buffer;
  width: number;
  height: number;
  x?: number;
  y?: number;
  /** 0 = source (replace), 1 = over. */
  blend?: number;
  /** 0 = none, 1 = background, 2 = previous. */
  dispose?: number;
  delayMs?: number;
}

/** An APNG of canvas width × height whose default image is the first frame. */
export function apngSequence(frames: ApngFrame[], width: number, height: number, loop = 0): Buffer {
  const ihdr = chunks(frames[0]!.png).find((c) => c.type === "IHDR")!.data;
  const header = Buffer.from(ihdr);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(frames.length, 0);
  actl.writeUInt32BE(loop, 4);
  const parts: Buffer[] = [PNG_SIGNATURE, chunk("IHDR", header), chunk("acTL", actl)];
  let seq = 0;
  for (const [i, f] of frames.entries()) {
    const fc = Buffer.alloc(26);
    fc.writeUInt32BE(seq++, 0);
    fc.writeUInt32BE(f.width, 4);
    fc.writeUInt32BE(f.height, 8);
    fc.writeUInt32BE(f.x ?? 0, 12);
    fc.writeUInt32BE(f.y ?? 0, 16);
    fc.writeUInt16BE(f.delayMs ?? 100, 20);
    fc.writeUInt16BE(1000, 22);
    fc[24] = f.dispose ?? 0;
    fc[25] = f.blend ?? 0;
    parts.push(chunk("fcTL", fc));
    for (const d of chunks(f.png).filter((c) => c.type === "IDAT")) {
      if (i === 0) {
        parts.push(chunk("IDAT", d.data));
      } else {
        const s = Buffer.alloc(4);
        s.writeUInt32BE(seq++);
        parts.push(chunk("fdAT", Buffer.concat([s, d.data])));
      }
    }
  }
  parts.push(chunk("IEND", Buffer.alloc(0)));
  return Buffer.concat(parts);
}
