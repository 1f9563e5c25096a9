import { fileTypeFromBuffer } from "file-type/core";
import sharp, { type Metadata } from "sharp";
import { MediaError } from "../errors.js";
import { apngInfo } from "./apng.js";
import { atStage, toMediaError } from "./diagnostics.js";
import type { ThumbnailerSettings } from "./options.js";
import type { ImageSourceType, ThumbnailProbe } from "./types.js";

/** Sniffed type → the libvips loader family that must have recognised it. */
const ALLOWED: Record<ImageSourceType, string> = {
  "image/jpeg": "jpeg",
  "image/png": "png",
  "image/apng": "png",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/avif": "heif",
};

/** libvips buffer loaders left usable when `blockLoaders` is on. */
const ALLOWED_LOADERS = [
  "VipsForeignLoadJpegBuffer",
  "VipsForeignLoadPngBuffer",
  "VipsForeignLoadNsgifBuffer",
  "VipsForeignLoadWebpBuffer",
  "VipsForeignLoadHeifBuffer",
];

/**
 * Leaves only the allowlisted libvips loaders usable: a second wall behind sniffing.
 * Process-wide by nature (libvips has one operation table); idempotent, so creating several
 * thumbnailers is harmless.
 * @internal
 */
export function blockForeignLoaders(): void {
  sharp.block({ operation: ["VipsForeignLoad"] });
  sharp.unblock({ operation: ALLOWED_LOADERS });
}

/**
 * What the pipeline knows of a source before decoding it.
 * @internal
 */
export interface InspectedSource extends ThumbnailProbe {
  /** Width × height of one frame as stored (before orientation). */
  framePixels: number;
  /** Frame delays in milliseconds, for animated output. */
  delay: number[] | undefined;
  /** Loop count, for animated output. */
  loop: number | undefined;
}

/** The limits inspection enforces. @internal */
export type InspectLimits = Pick<ThumbnailerSettings, "maxSourceBytes" | "maxPixels" | "failOn">;

function checkBytes(source: Buffer, maxSourceBytes: number): void {
  if (!(source instanceof Uint8Array)) {
    throw atStage(
      "input",
      new MediaError("M_INVALID_PARAM", "Thumbnail source must be a Buffer", { status: 400 }),
    );
  }
  if (source.length > maxSourceBytes) {
    throw atStage(
      "input",
      new MediaError(
        "M_TOO_LARGE",
        `Image is ${source.length} bytes, over the thumbnailer's maxSourceBytes (${maxSourceBytes})`,
        { status: 413 },
      ),
    );
  }
}

/** The type the bytes really have; the declared type is never trusted. */
async function sniff(source: Buffer): Promise<ImageSourceType> {
  const sniffed = source.length === 0 ? undefined : await fileTypeFromBuffer(source);
  const mime = sniffed?.mime as ImageSourceType | undefined;
  if (mime === undefined || !Object.hasOwn(ALLOWED, mime)) {
    throw atStage(
      "sniff",
      new MediaError(
        "M_UNSUPPORTED",
        `Cannot thumbnail content of type ${sniffed?.mime ?? "unknown"}; supported: ${Object.keys(ALLOWED).join(", ")}`,
        { status: 400 },
      ),
    );
  }
  return mime;
}

/** A header read by the loader the sniffed type calls for; no pixel is decoded. */
async function readImageHeader(
  source: Buffer,
  mime: ImageSourceType,
  limits: InspectLimits,
): Promise<InspectedSource> {
  let meta: Metadata;
  try {
    meta = await sharp(source, { failOn: limits.failOn, limitInputPixels: false }).metadata();
  } catch (err) {
    throw atStage("header", toMediaError(err));
  }
  if (meta.format !== ALLOWED[mime] || (mime === "image/avif" && meta.compression === "hevc")) {
    throw new MediaError(
      "M_UNSUPPORTED",
      `Content sniffed as ${mime} was decoded as ${meta.format}`,
      { status: 400 },
    );
  }
  const w = meta.width;
  const h = meta.pageHeight ?? meta.height;
  const framePixels = w * h;
  if (!(framePixels > 0)) {
    throw atStage("header", new MediaError("M_UNKNOWN", "Image has no pixels", { status: 400 }));
  }
  if (framePixels > limits.maxPixels) {
    throw atStage(
      "header",
      new MediaError(
        "M_TOO_LARGE",
        `Image is ${w}×${h} pixels, over the thumbnailer's maxPixels (${limits.maxPixels})`,
        { status: 413 },
      ),
    );
  }
  let frames = meta.pages ?? 1;
  let delay = meta.delay;
  let loop = meta.loop;
  if (mime === "image/apng") {
    // libvips reads only the default image; the frame count comes from the control chunks.
    const apng = apngInfo(source);
    if (apng && apng.frames > 1) ({ frames, delay, loop } = apng);
  }
  const orientation = meta.orientation ?? 1;
  const rotated = orientation >= 5 && orientation <= 8;
  return {
    mime,
    width: rotated ? h : w,
    height: rotated ? w : h,
    frames,
    animated: frames > 1,
    hasAlpha: meta.hasAlpha,
    orientation,
    framePixels,
    delay,
    loop,
  };
}

/**
 * Byte checks, sniffing and a header read, with the byte and pixel limits applied; nothing is
 * decoded. Each sniffed family has its own header reader (images: libvips' metadata).
 * @internal
 */
export async function inspect(source: Buffer, limits: InspectLimits): Promise<InspectedSource> {
  checkBytes(source, limits.maxSourceBytes);
  const mime = await sniff(source);
  return readImageHeader(source, mime, limits);
}

/**
 * The public view of an inspection.
 * @internal
 */
export function toProbe(info: InspectedSource): ThumbnailProbe {
  return {
    mime: info.mime,
    width: info.width,
    height: info.height,
    frames: info.frames,
    animated: info.animated,
    hasAlpha: info.hasAlpha,
    orientation: info.orientation,
  };
}
