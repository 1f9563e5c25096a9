// Which video container some bytes are, from their magic bytes alone: the demuxer ffmpeg is
// told to use (`-f`) comes from here, so nothing else (HLS, concat scripts, image2, …) is
// ever opened by ffmpeg's own probing.

import type { VideoSourceType } from "./types.js";

/** A sniffed video: its MIME type and the only ffmpeg demuxer allowed to read it. @internal */
export interface SniffedVideo {
  readonly mime: VideoSourceType;
  readonly demuxer: "mov" | "matroska";
}

/** ISO BMFF brands of video files (image brands such as avif, heic and mif1 are not). */
const MP4_BRANDS = new Set([
  "isom",
  "iso2",
  "iso3",
  "iso4",
  "iso5",
  "iso6",
  "mp41",
  "mp42",
  "avc1",
  "dash",
  "M4V ",
  "M4VP",
  "MSNV",
  "3gp4",
  "3gp5",
  "3gp6",
  "3g2a",
  "mmp4",
  "XAVC",
  "f4v ",
]);

/** QuickTime files from before `ftyp` start with one of these atoms. */
const QUICKTIME_ATOMS = new Set(["moov", "mdat", "wide", "free", "skip", "pnot"]);

const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  Buffer.from(bytes.subarray(start, end)).toString("latin1");

/** The EBML DocType ("webm" or "matroska") within the header, if any. */
function ebmlDocType(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.subarray(0, 64));
  const at = head.indexOf(Buffer.from([0x42, 0x82]));
  if (at < 0 || at + 3 > head.length) return undefined;
  const size = head[at + 2]!;
  // A one-byte EBML size has its top bit set; the DocType is a few ASCII letters.
  if ((size & 0x80) === 0) return undefined;
  const length = size & 0x7f;
  return ascii(head, at + 3, Math.min(head.length, at + 3 + length));
}

/**
 * The video container of `bytes`, or undefined when they are not an allowlisted video.
 * @internal
 */
export function sniffVideo(bytes: Uint8Array): SniffedVideo | undefined {
  if (bytes.length < 12) return undefined;
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) {
    const docType = ebmlDocType(bytes);
    if (docType === "webm") return { mime: "video/webm", demuxer: "matroska" };
    if (docType === "matroska") return { mime: "video/x-matroska", demuxer: "matroska" };
    return undefined;
  }
  const atom = ascii(bytes, 4, 8);
  if (atom === "ftyp") {
    const brand = ascii(bytes, 8, 12);
    if (brand === "qt  ") return { mime: "video/quicktime", demuxer: "mov" };
    if (MP4_BRANDS.has(brand)) return { mime: "video/mp4", demuxer: "mov" };
    return undefined;
  }
  if (QUICKTIME_ATOMS.has(atom)) return { mime: "video/quicktime", demuxer: "mov" };
  return undefined;
}

/**
 * True for the MIME types the thumbnailer can make a poster frame of.
 * @internal
 */
export const isVideoType = (mime: string): mime is VideoSourceType =>
  mime === "video/mp4" ||
  mime === "video/quicktime" ||
  mime === "video/webm" ||
  mime === "video/x-matroska";
