import { createDiagnostics, type ThumbnailDiagnostics } from "./diagnostics.js";
import { blockForeignLoaders, inspect, toProbe, type InspectedSource } from "./inspect.js";
import {
  checkRequest,
  resolveThumbnailerOptions,
  type ThumbnailerOptions,
  type ThumbnailerSettings,
} from "./options.js";
import { decodeForSizes, libvipsTimeout, openStill, renderOne } from "./pipeline.js";
import { attachToSmallest, blurhashOf } from "./placeholder.js";
import { createJobQueue, runAdmitted, type JobQueue } from "./queue.js";
import { selectSize } from "./sizes.js";
import { createVideoExtractor, type VideoExtractor } from "./video.js";
import { isVideoType, sniffVideo } from "./video-sniff.js";
import type {
  GenerateAllOptions,
  ThumbnailPlaceholder,
  ThumbnailProbe,
  ThumbnailRequest,
  ThumbnailResult,
  ThumbnailSource,
  Thumbnailer,
} from "./types.js";

/** What one thumbnailer holds: its settings, its queue, its diagnostics and video extractor. */
interface ThumbnailerState {
  readonly settings: ThumbnailerSettings;
  readonly queue: JobQueue;
  readonly diagnostics: ThumbnailDiagnostics;
  readonly video: VideoExtractor;
}

/** A failure of the caller's loader: its own error, handed back as it is. */
class LoaderFailure extends Error {
  constructor(readonly error: unknown) {
    super("The thumbnail source loader failed", { cause: error });
  }
}

/** The bytes of `source`, read by its loader now that the job has a slot. */
async function bytesOf(source: ThumbnailSource): Promise<Buffer> {
  if (typeof source !== "function") return source;
  try {
    return await source();
  } catch (error) {
    throw new LoaderFailure(error);
  }
}

/**
 * The image the pipeline works on and what is known of it: the source itself, or for a
 * sniffed video its poster frame (a PNG in display orientation), reported under the video's
 * MIME type. With video off, a video reaches `inspect`, which refuses its type.
 */
async function open(
  state: ThumbnailerState,
  source: ThumbnailSource,
): Promise<{ bytes: Buffer; info: InspectedSource }> {
  const { settings: s } = state;
  const bytes = await bytesOf(source);
  const video = s.video.enabled && bytes instanceof Uint8Array ? sniffVideo(bytes) : undefined;
  if (video === undefined) return { bytes, info: await inspect(bytes, s) };
  const { frame } = await state.video.posterFrame(bytes, video);
  const info = await inspect(frame, { ...s, maxSourceBytes: s.video.maxFrameBytes });
  return { bytes: frame, info: { ...info, mime: video.mime } };
}

async function probe(state: ThumbnailerState, source: Buffer): Promise<ThumbnailProbe> {
  const { settings: s } = state;
  const video = s.video.enabled && source instanceof Uint8Array ? sniffVideo(source) : undefined;
  if (video === undefined) return toProbe(await inspect(source, s));
  // ffprobe is a process: it takes a queue slot like any decode.
  const header = await runAdmitted(state.queue, s.timeoutMs, () =>
    state.video.header(source, video),
  );
  return {
    mime: video.mime,
    width: header.width,
    height: header.height,
    frames: 1,
    animated: false,
    hasAlpha: false,
    orientation: 1,
  };
}

async function generate(
  state: ThumbnailerState,
  source: ThumbnailSource,
  request: ThumbnailRequest,
): Promise<ThumbnailResult> {
  const { settings: s, diagnostics } = state;
  checkRequest(request);
  return runAdmitted(state.queue, s.timeoutMs, async () => {
    const started = s.now();
    const { bytes, info } = await open(state, source);
    const result = await renderOne(bytes, info, request, s);
    diagnostics.done("generate", info.mime, started, 1, result.animated);
    return result;
  });
}

async function generateAll(
  state: ThumbnailerState,
  source: ThumbnailSource,
  options: GenerateAllOptions,
): Promise<ThumbnailResult[]> {
  const { settings: s, diagnostics } = state;
  const withBlurhash = options.blurhash ?? s.placeholder === "blurhash";
  return runAdmitted(state.queue, s.timeoutMs, async () => {
    const started = s.now();
    const { bytes, info } = await open(state, source);
    const decoded = await decodeForSizes(bytes, info, s.sizes, options.animated === true, s);
    const thumbnails = Promise.all(s.sizes.map((size) => decoded.render(size)));
    const placeholder = withBlurhash
      ? blurhashOf(decoded.firstFrame(), libvipsTimeout(s))
      : undefined;
    // Awaited together so that a failure of one leaves no rejection unobserved.
    const [results, hash] = await Promise.all([thumbnails, placeholder]);
    if (hash !== undefined) attachToSmallest(results, hash.blurhash);
    diagnostics.done("generateAll", info.mime, started, results.length, decoded.animated);
    return results;
  });
}

async function placeholder(state: ThumbnailerState, source: Buffer): Promise<ThumbnailPlaceholder> {
  const { settings: s, diagnostics } = state;
  return runAdmitted(state.queue, s.timeoutMs, async () => {
    const started = s.now();
    const { bytes, info } = await open(state, source);
    const { blurhash } = await blurhashOf(openStill(bytes, info, s), libvipsTimeout(s));
    diagnostics.done("placeholder", info.mime, started, 1, false);
    return { blurhash, width: info.width, height: info.height };
  });
}

/**
 * Creates a thumbnailer: a sharp (libvips) pipeline that only lets sniffed JPEG, PNG/APNG,
 * GIF, WebP and AVIF reach a decoder, checks pixel, frame and byte limits from the header
 * before decoding, applies EXIF orientation before cropping, strips metadata, converts to
 * sRGB, never upscales, and bounds concurrency with a queue that refuses work when full.
 *
 * MP4, QuickTime, WebM and Matroska videos (sniffed) get a poster frame from a sandboxed
 * ffmpeg (see {@link VideoThumbnailOptions} and docs/thumbnail.md): a private temp file, only
 * the sniffed demuxer and the probed decoder, local files only, a wall-clock deadline that
 * kills the process group, CPU and memory rlimits. The frame, in display orientation, then
 * takes the images' pipeline; ffmpeg runs take the same queue slots as image decodes.
 *
 * All refusals are `MediaError`s (from `matrix-media-kit`): a sniffed type outside the
 * allowlist is 400 `M_UNSUPPORTED`; too many bytes or pixels 413 `M_TOO_LARGE`; corrupt or
 * truncated data 400 `M_UNKNOWN`; a timeout 504 `M_UNKNOWN`; a full queue 503
 * `M_LIMIT_EXCEEDED` with `retryAfterMs`; a malformed request 400 `M_INVALID_PARAM`. Raw
 * sharp errors never escape (they are kept as `cause`). Invalid options throw a
 * `ConfigError` naming the option.
 *
 * `generate` and `generateAll` take the bytes, or a loader that they call only once the queue
 * admits the job: a job that waits or is refused then holds no source in memory.
 *
 * @example
 * ```ts
 * import { readFile } from "node:fs/promises";
 * import { createThumbnailer } from "matrix-media-kit/thumbnail";
 *
 * const thumbnailer = createThumbnailer({ maxPixels: 24_000_000, concurrency: 2, placeholder: "blurhash" });
 * const photo = await readFile("photo.jpg");
 * // At upload: every configured size from one decode; the smallest carries a blurhash.
 * for (const t of await thumbnailer.generateAll(photo, { animated: true })) {
 *   console.log(t.method, t.width, t.height, t.contentType, t.blurhash ?? "");
 * }
 * // On demand: which stored size answers a request, or render one exactly.
 * const size = thumbnailer.pickSize({ width: 100, height: 100, method: "crop" });
 * const one = await thumbnailer.generate(photo, { ...size, animated: false });
 * // Admit, then load: the file is read only once a slot is free.
 * const later = await thumbnailer.generate(() => readFile("photo.jpg"), size);
 * // Videos: a poster frame, then the same sizes.
 * const clip = await thumbnailer.generateAll(await readFile("clip.mp4"));
 * ```
 */
export function createThumbnailer(options: ThumbnailerOptions = {}): Thumbnailer {
  const settings = resolveThumbnailerOptions(options);
  if (settings.blockLoaders) blockForeignLoaders();
  const queue = createJobQueue(
    settings.concurrency,
    settings.maxQueue,
    Math.min(settings.timeoutMs, 1000),
  );
  const diagnostics = createDiagnostics(settings.now);
  const video = createVideoExtractor(settings.video, settings.maxPixels, settings.logger);
  const state: ThumbnailerState = { settings, queue, diagnostics, video };
  // Every entry point converts what it throws into a client-safe MediaError, published once;
  // a loader's own failure is the caller's, not a refusal of the image.
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof LoaderFailure) throw err.error;
      throw diagnostics.refused(err);
    }
  };

  return {
    sizes: settings.sizes,
    maxSourceBytes: Math.max(
      settings.maxSourceBytes,
      settings.video.enabled ? settings.video.maxInputBytes : 0,
    ),
    maxSourceBytesFor: (contentType) =>
      settings.video.enabled && isVideoType(baseType(contentType))
        ? settings.video.maxInputBytes
        : settings.maxSourceBytes,
    acceptsSourceLoader: true,
    generate: (source, request) => guarded(() => generate(state, source, request)),
    generateAll: (source, opts = {}) => guarded(() => generateAll(state, source, opts)),
    probe: (source) => guarded(() => probe(state, source)),
    placeholder: (source) => guarded(() => placeholder(state, source)),
    pickSize(request, source) {
      try {
        checkRequest(request);
      } catch (err) {
        throw diagnostics.refused(err);
      }
      const { dynamic } = settings;
      if (dynamic && request.width <= dynamic.maxWidth && request.height <= dynamic.maxHeight) {
        return Object.freeze({
          width: request.width,
          height: request.height,
          method: request.method,
        });
      }
      return selectSize(settings.sizes, request, source);
    },
    stats: () => queue.stats(),
    videoSupport: () => video.support(),
  };
}

/** `video/mp4` of `Video/MP4; codecs="avc1"`. */
const baseType = (contentType: string): string =>
  (contentType.split(";")[0] ?? "").trim().toLowerCase();
