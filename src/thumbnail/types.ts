import type { VideoSupport } from "./video.js";

/** `crop` fills the requested box (centre crop); `scale` fits inside it. */
export type ThumbnailMethod = "crop" | "scale";

/**
 * A thumbnail size, as configured or as requested by a client.
 *
 * @example
 * ```ts
 * const avatar: ThumbnailSize = { width: 96, height: 96, method: "crop" };
 * ```
 */
export interface ThumbnailSize {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** How the source is fitted to width × height. */
  readonly method: ThumbnailMethod;
}

/**
 * What a client asked for (`GET /thumbnail?width&height&method&animated`): a size, and
 * whether an animated thumbnail is wanted.
 *
 * @example
 * ```ts
 * const request: ThumbnailRequest = { width: 320, height: 240, method: "scale", animated: true };
 * const thumbnail = await thumbnailer.generate(bytes, request);
 * ```
 */
export interface ThumbnailRequest extends ThumbnailSize {
  /**
   * When true and the source is animated (GIF, WebP), the thumbnail is an animated WebP.
   * Ignored when the thumbnailer was created with `animated: false`.
   * @defaultValue false
   */
  readonly animated?: boolean;
}

/**
 * Width and height in pixels.
 *
 * @example
 * ```ts
 * const source: Dimensions = { width: 4000, height: 3000 };
 * ```
 */
export interface Dimensions {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** The MIME types a thumbnail can have. */
export type ThumbnailContentType = "image/jpeg" | "image/png" | "image/webp";

/** The image MIME types the thumbnailer decodes with sharp (sniffed from the bytes). */
export type ImageSourceType =
  "image/jpeg" | "image/png" | "image/apng" | "image/gif" | "image/webp" | "image/avif";

/** The video MIME types the thumbnailer takes a poster frame of with ffmpeg (sniffed). */
export type VideoSourceType = "video/mp4" | "video/quicktime" | "video/webm" | "video/x-matroska";

/** The MIME types the thumbnailer accepts as input (sniffed from the bytes). */
export type ThumbnailSourceType = ImageSourceType | VideoSourceType;

/**
 * One generated thumbnail.
 *
 * @example
 * ```ts
 * const t: ThumbnailResult = await thumbnailer.generate(bytes, { width: 96, height: 96, method: "crop" });
 * res.writeHead(200, { "content-type": t.contentType, "content-length": t.data.length }).end(t.data);
 * ```
 */
export interface ThumbnailResult {
  /** The encoded image. */
  data: Buffer;
  /** Its MIME type: JPEG for opaque stills, PNG for stills with alpha, WebP when animated. */
  contentType: ThumbnailContentType;
  /** Actual width in pixels (never larger than the source). */
  width: number;
  /** Actual height in pixels (never larger than the source). */
  height: number;
  /** The method used. */
  method: ThumbnailMethod;
  /** True when `data` is an animated WebP. */
  animated: boolean;
  /** The width that was asked for (the configured size for `generateAll`). */
  requestedWidth: number;
  /** The height that was asked for (the configured size for `generateAll`). */
  requestedHeight: number;
  /**
   * A blurhash of the whole image (4×3 components, or 3×4 for portrait sources), present on
   * the smallest result of {@link Thumbnailer.generateAll} only, and only when asked for
   * (the thumbnailer's `placeholder: "blurhash"` option, or `blurhash: true` on the call).
   */
  blurhash?: string;
}

/**
 * What {@link Thumbnailer.probe} learns from a source without decoding its pixels.
 *
 * @example
 * ```ts
 * const { mime, width, height, animated } = await thumbnailer.probe(bytes);
 * ```
 */
export interface ThumbnailProbe {
  /** The sniffed MIME type (the declared one is never trusted). */
  mime: ThumbnailSourceType;
  /** Width in display orientation (after EXIF orientation). */
  width: number;
  /** Height in display orientation (after EXIF orientation). */
  height: number;
  /** Number of frames (1 for stills). */
  frames: number;
  /** True when the source has more than one frame. */
  animated: boolean;
  /** True when the source has an alpha channel. */
  hasAlpha: boolean;
  /**
   * The EXIF orientation tag (1–8), 1 when absent. Always 1 for videos: their rotation
   * (display matrix or `rotate` tag) is applied, and `width`/`height` are the displayed ones.
   */
  orientation: number;
}

/**
 * A placeholder computed by {@link Thumbnailer.placeholder}; `width` and `height` are the
 * source's, in display orientation.
 */
export interface ThumbnailPlaceholder extends Dimensions {
  /** The blurhash string. */
  blurhash: string;
}

/** Options of {@link Thumbnailer.generateAll}. */
export interface GenerateAllOptions {
  /**
   * Produce animated WebP thumbnails when the source is animated.
   * @defaultValue false
   */
  animated?: boolean;
  /**
   * Compute a blurhash and attach it to the smallest result.
   * @defaultValue true when the thumbnailer was created with `placeholder: "blurhash"`, else false
   */
  blurhash?: boolean;
}

/**
 * Reads a source only once the thumbnailer's queue has admitted the job, so that a refused
 * or waiting job holds no bytes. What it throws reaches the caller unchanged.
 *
 * @example
 * ```ts
 * const t = await thumbnailer.generate(() => readFile("photo.jpg"), { width: 96, height: 96, method: "crop" });
 * ```
 */
export type ThumbnailSourceLoader = () => Promise<Buffer>;

/** The bytes of an image, or a {@link ThumbnailSourceLoader} called after admission. */
export type ThumbnailSource = Buffer | ThumbnailSourceLoader;

/** Load figures of the thumbnailer's queue. */
export interface ThumbnailQueueStats {
  /** Jobs being processed now (at most `concurrency`). */
  active: number;
  /** Jobs waiting for a slot (at most `maxQueue`). */
  queued: number;
}

/**
 * A thumbnailer created by {@link createThumbnailer}: a plain object, safe to share between
 * requests (its queue bounds the work in progress).
 *
 * @example
 * ```ts
 * const thumbnailer: Thumbnailer = createThumbnailer();
 * const size = thumbnailer.pickSize({ width: 64, height: 64, method: "crop" }); // 96×96 crop
 * const stored = await thumbnailer.generateAll(bytes);
 * ```
 */
export interface Thumbnailer {
  /** The configured sizes, in the order given. */
  readonly sizes: readonly ThumbnailSize[];
  /**
   * The largest source of any type (the larger of `maxSourceBytes` and, with video enabled,
   * `video.maxInputBytes`): larger sources are refused with 413 `M_TOO_LARGE`.
   */
  readonly maxSourceBytes: number;
  /** The largest source of one content type: `video.maxInputBytes` for videos, else `maxSourceBytes`. */
  maxSourceBytesFor(contentType: string): number;
  /**
   * Always true: `generate` and `generateAll` accept a {@link ThumbnailSourceLoader}, called
   * once the queue admits the job (a capability callers such as the repository look for).
   */
  readonly acceptsSourceLoader: true;
  /**
   * Generates one thumbnail of exactly the requested size and method (never upscaled).
   * Throws a `MediaError` for refused input.
   */
  generate(source: ThumbnailSource, request: ThumbnailRequest): Promise<ThumbnailResult>;
  /**
   * Generates every configured size from a single decode, in the order of `sizes`.
   * Throws a `MediaError` for refused input.
   */
  generateAll(source: ThumbnailSource, options?: GenerateAllOptions): Promise<ThumbnailResult[]>;
  /**
   * Which size serves a request: with `dynamic` enabled and the request within its bounds,
   * the request itself; otherwise the smallest configured size of the same method at least
   * as large as the request (on the dimensions it really yields for `source`, when given),
   * falling back to the largest.
   */
  pickSize(request: ThumbnailSize, source?: Dimensions): ThumbnailSize;
  /** Sniffs the type and reads the header only. Throws like {@link Thumbnailer.generate}. */
  probe(source: Buffer): Promise<ThumbnailProbe>;
  /**
   * A blurhash of the whole image (first frame), from a small shrink-on-load decode. Runs in
   * the queue like `generate`, whatever the `placeholder` option says.
   */
  placeholder(source: Buffer): Promise<ThumbnailPlaceholder>;
  /** Current queue load. */
  stats(): ThumbnailQueueStats;
  /**
   * Whether video thumbnails can be made (ffmpeg and ffprobe run under the sandbox). Checked
   * once, on the first call or the first video; when unavailable, one line is logged and
   * videos are refused with 400 `M_UNSUPPORTED`, like any type without thumbnails.
   */
  videoSupport(): Promise<VideoSupport>;
}
