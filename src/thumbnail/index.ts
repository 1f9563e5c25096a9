/**
 * The thumbnailer: a hardened sharp (libvips) pipeline with Matrix spec semantics.
 *
 * Only sniffed JPEG, PNG/APNG, GIF, WebP and AVIF reach a decoder (and MP4, QuickTime, WebM
 * and Matroska videos a sandboxed ffmpeg, whose poster frame then takes the same path); pixel, frame and byte
 * limits are checked from the header before decoding; EXIF orientation is applied before
 * cropping; metadata is stripped and colour converted to sRGB; thumbnails are never
 * upscaled; `generateAll` derives every configured size from one decode.
 *
 * ```
 *  queue slot (bounded) ─► bytes (or a loader, called now) ─► size check ─► file-type sniff
 *        ─► header (sharp.metadata) ─► pixel/frame limits ─► one shrink-on-load decode ─► per-size resize + encode
 * ```
 *
 * A blurhash placeholder is computed only when asked for (`placeholder: "blurhash"`,
 * `generateAll(…, { blurhash: true })` or `placeholder()`).
 *
 * This subpath loads sharp, file-type and blurhash only (no Redis, PostgreSQL or AWS SDK).
 *
 * @example
 * ```ts
 * import { createThumbnailer } from "matrix-media-kit/thumbnail";
 * const thumbnailer = createThumbnailer();
 * const thumbs = await thumbnailer.generateAll(uploadBytes);
 * ```
 *
 * @module
 */
export { createThumbnailer } from "./thumbnailer.js";
export {
  DEFAULT_THUMBNAILER_OPTIONS,
  type DynamicThumbnailBounds,
  type ThumbnailerOptions,
} from "./options.js";
export { THUMBNAIL_CHANNEL } from "./diagnostics.js";
export {
  DEFAULT_VIDEO_THUMBNAIL_OPTIONS,
  type ThumbnailerLogger,
  type VideoThumbnailOptions,
} from "./video-options.js";
export type { VideoSupport } from "./video.js";
export { DEFAULT_THUMBNAIL_SIZES, outputDimensions } from "./sizes.js";
export type {
  Dimensions,
  GenerateAllOptions,
  ImageSourceType,
  ThumbnailContentType,
  ThumbnailMethod,
  ThumbnailPlaceholder,
  ThumbnailProbe,
  ThumbnailQueueStats,
  ThumbnailRequest,
  ThumbnailResult,
  ThumbnailSize,
  ThumbnailSource,
  ThumbnailSourceLoader,
  ThumbnailSourceType,
  Thumbnailer,
  VideoSourceType,
} from "./types.js";
