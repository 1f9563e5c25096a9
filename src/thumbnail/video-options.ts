import { ConfigError } from "../errors.js";

/**
 * Where a thumbnailer's one-line notices go (the standalone passes its logger).
 *
 * @example
 * ```ts
 * const logger: ThumbnailerLogger = { warn: (message) => console.warn(message) };
 * const thumbnailer = createThumbnailer({ logger });
 * ```
 */
export interface ThumbnailerLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Options of the video frame extractor (`createThumbnailer({ video })`). Every field is
 * optional; see {@link DEFAULT_VIDEO_THUMBNAIL_OPTIONS}.
 *
 * @example
 * ```ts
 * const thumbnailer = createThumbnailer({
 *   video: { ffmpegPath: "/usr/bin/ffmpeg", timeoutMs: 8_000, memoryBytes: 768 * 1024 * 1024 },
 * });
 * ```
 */
export interface VideoThumbnailOptions {
  /**
   * Thumbnail MP4, QuickTime, WebM and Matroska sources with ffmpeg.
   * @defaultValue true
   */
  enabled?: boolean;
  /**
   * The ffmpeg binary. When it cannot be run, video thumbnails are unavailable (one log line).
   * @defaultValue "/usr/bin/ffmpeg"
   */
  ffmpegPath?: string;
  /**
   * The ffprobe binary, run under the same sandbox as ffmpeg.
   * @defaultValue "/usr/bin/ffprobe"
   */
  ffprobePath?: string;
  /**
   * The prlimit binary that applies the CPU, memory, file and process limits.
   * @defaultValue "/usr/bin/prlimit"
   */
  prlimitPath?: string;
  /**
   * Wall-clock time allowed to frame extraction (every ffmpeg pass of one video together);
   * the whole process group is killed at the deadline. With `maxDurationProbeMs` it must fit
   * in the thumbnailer's `timeoutMs`.
   * @defaultValue min(10_000, ⌊⅔ of the thumbnailer's timeoutMs⌋)
   */
  timeoutMs?: number;
  /**
   * Wall-clock time allowed to ffprobe reading the streams' header.
   * @defaultValue min(5_000, ⌊⅓ of the thumbnailer's timeoutMs⌋)
   */
  maxDurationProbeMs?: number;
  /**
   * Largest video accepted, in bytes (images keep `maxSourceBytes`).
   * @defaultValue 209_715_200 (200 MiB)
   */
  maxInputBytes?: number;
  /**
   * CPU seconds one ffmpeg or ffprobe process may use (`RLIMIT_CPU`).
   * @defaultValue 10
   */
  cpuSeconds?: number;
  /**
   * Address space of one ffmpeg or ffprobe process, in bytes (`RLIMIT_AS`); Debian's ffmpeg
   * maps about 300 MiB of libraries before decoding anything.
   * @defaultValue 1_073_741_824 (1 GiB)
   */
  memoryBytes?: number;
  /**
   * Open files of one process (`RLIMIT_NOFILE`).
   * @defaultValue 64
   */
  maxOpenFiles?: number;
  /**
   * Processes of the user running ffmpeg (`RLIMIT_NPROC`, which counts every process and thread
   * of that user, not only ffmpeg's, and does not bind root); 0 leaves it unset. Set it when
   * ffmpeg runs as a dedicated user.
   * @defaultValue 0
   */
  maxProcesses?: number;
  /**
   * Decoder and filter threads of one ffmpeg process: the queue's `concurrency` already
   * spreads jobs over the cores.
   * @defaultValue 1
   */
  threads?: number;
  /**
   * Clips shorter than this get their poster frame from 10% in; longer ones from the start.
   * @defaultValue 10_000
   */
  shortClipMs?: number;
  /**
   * How far past the start point ffmpeg looks for the first frame that is not black.
   * @defaultValue 3_000
   */
  posterWindowMs?: number;
  /**
   * Largest PNG frame accepted from ffmpeg's stdout, in bytes; ffmpeg is killed past it.
   * @defaultValue 134_217_728 (128 MiB)
   */
  maxFrameBytes?: number;
}

/**
 * The defaults of {@link VideoThumbnailOptions}.
 *
 * @example
 * ```ts
 * import { createThumbnailer, DEFAULT_VIDEO_THUMBNAIL_OPTIONS } from "matrix-media-kit/thumbnail";
 * const thumbnailer = createThumbnailer({ video: { timeoutMs: DEFAULT_VIDEO_THUMBNAIL_OPTIONS.timeoutMs / 2 } });
 * ```
 */
export const DEFAULT_VIDEO_THUMBNAIL_OPTIONS = Object.freeze({
  /** @defaultValue true */
  enabled: true,
  /** @defaultValue "/usr/bin/ffmpeg" */
  ffmpegPath: "/usr/bin/ffmpeg",
  /** @defaultValue "/usr/bin/ffprobe" */
  ffprobePath: "/usr/bin/ffprobe",
  /** @defaultValue "/usr/bin/prlimit" */
  prlimitPath: "/usr/bin/prlimit",
  /** @defaultValue 10_000, or ⅔ of a thumbnailer `timeoutMs` under 15 s */
  timeoutMs: 10_000,
  /** @defaultValue 5_000, or ⅓ of a thumbnailer `timeoutMs` under 15 s */
  maxDurationProbeMs: 5_000,
  /** @defaultValue 200 MiB */
  maxInputBytes: 200 * 1024 * 1024,
  /** @defaultValue 10 */
  cpuSeconds: 10,
  /** @defaultValue 1 GiB */
  memoryBytes: 1024 * 1024 * 1024,
  /** @defaultValue 64 */
  maxOpenFiles: 64,
  /** @defaultValue 0 (unset) */
  maxProcesses: 0,
  /** @defaultValue 1 */
  threads: 1,
  /** @defaultValue 10_000 */
  shortClipMs: 10_000,
  /** @defaultValue 3_000 */
  posterWindowMs: 3_000,
  /** @defaultValue 128 MiB */
  maxFrameBytes: 128 * 1024 * 1024,
} as const);

/** Validated video options. @internal */
export type VideoSettings = Readonly<Required<VideoThumbnailOptions>>;

const refuse = (option: string, expected: string, value: unknown): ConfigError =>
  new ConfigError(
    `createThumbnailer: expected options.video.${option} to be ${expected} but received ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
    { option: `video.${option}` },
  );

/**
 * Validates `options.video` (a `ConfigError` names the option) and fills in the defaults;
 * the extractor's time budget must fit in the thumbnailer's `timeoutMs`.
 * @internal
 */
export function resolveVideoOptions(value: unknown, timeoutMs: number): VideoSettings {
  if (value !== undefined && (typeof value !== "object" || value === null)) {
    throw new ConfigError(
      `createThumbnailer: expected options.video to be an object but received ${typeof value === "string" ? JSON.stringify(value) : typeof value}`,
      { option: "video" },
    );
  }
  const given = (value ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // The default deadlines share the thumbnailer's own: a short `timeoutMs` shortens them.
  const scaled: Record<string, number> = {
    timeoutMs: Math.max(
      1,
      Math.min(DEFAULT_VIDEO_THUMBNAIL_OPTIONS.timeoutMs, Math.floor((timeoutMs * 2) / 3)),
    ),
    maxDurationProbeMs: Math.max(
      1,
      Math.min(DEFAULT_VIDEO_THUMBNAIL_OPTIONS.maxDurationProbeMs, Math.floor(timeoutMs / 3)),
    ),
  };
  for (const [key, defaultValue] of Object.entries(DEFAULT_VIDEO_THUMBNAIL_OPTIONS)) {
    const fallback = scaled[key] ?? defaultValue;
    const v = given[key] ?? fallback;
    if (typeof fallback === "boolean" && typeof v !== "boolean") throw refuse(key, "a boolean", v);
    if (typeof fallback === "string" && (typeof v !== "string" || v === "")) {
      throw refuse(key, "a non-empty path", v);
    }
    const min = key === "maxProcesses" ? 0 : 1;
    if (typeof fallback === "number" && !(Number.isSafeInteger(v) && (v as number) >= min)) {
      throw refuse(key, min === 0 ? "a non-negative integer" : "a positive integer", v);
    }
    out[key] = v;
  }
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(DEFAULT_VIDEO_THUMBNAIL_OPTIONS, key)) {
      throw refuse(key, "a known option (it is not one)", given[key]);
    }
  }
  const settings = Object.freeze(out) as VideoSettings;
  const explicit = given.timeoutMs !== undefined || given.maxDurationProbeMs !== undefined;
  if (
    explicit &&
    settings.enabled &&
    settings.timeoutMs + settings.maxDurationProbeMs > timeoutMs
  ) {
    throw new ConfigError(
      `createThumbnailer: expected options.video.timeoutMs + options.video.maxDurationProbeMs (${settings.timeoutMs + settings.maxDurationProbeMs}) to be at most options.timeoutMs (${timeoutMs})`,
      { option: "video.timeoutMs" },
    );
  }
  return settings;
}
