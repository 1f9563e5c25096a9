// `thumbnails.video`: the sandboxed ffmpeg poster-frame extractor's options.
import type { VideoThumbnailOptions } from "../thumbnail/index.js";
import {
  readBool,
  readBytes,
  readInt,
  readObject,
  readString,
  refuseUnknownKeys,
  type ConfigObject,
} from "./config-values.js";

const PATHS = ["ffmpegPath", "ffprobePath", "prlimitPath"] as const;
const COUNTS = [
  "timeoutMs",
  "maxDurationProbeMs",
  "cpuSeconds",
  "maxOpenFiles",
  "maxProcesses",
  "threads",
  "shortClipMs",
  "posterWindowMs",
] as const;
const SIZES = ["maxInputBytes", "memoryBytes", "maxFrameBytes"] as const;
const KEYS = ["enabled", ...PATHS, ...COUNTS, ...SIZES];

/**
 * `thumbnails.video`: passed to `createThumbnailer({ video })`; absent keys keep the
 * thumbnailer's defaults (`DEFAULT_VIDEO_THUMBNAIL_OPTIONS`). Sizes take units.
 *
 * @example
 * ```yaml
 * thumbnails:
 *   video: { enabled: true, ffmpegPath: /usr/bin/ffmpeg, timeoutMs: 8000, memoryBytes: 768MiB }
 * ```
 * @internal
 */
export function resolveVideoThumbnails(value: unknown): VideoThumbnailOptions | undefined {
  if (value === undefined || value === null) return undefined;
  const v: ConfigObject = readObject(value, "thumbnails.video");
  refuseUnknownKeys(v, KEYS, "thumbnails.video");
  const out: VideoThumbnailOptions & Record<string, unknown> = {};
  const key = (k: string): string => `thumbnails.video.${k}`;
  if (v.enabled !== undefined) out.enabled = readBool(v.enabled, key("enabled"), true);
  for (const k of PATHS) if (v[k] !== undefined) out[k] = readString(v[k], key(k));
  for (const k of COUNTS) {
    if (v[k] !== undefined) out[k] = readInt(v[k], key(k), 0, k === "maxProcesses" ? 0 : 1);
  }
  for (const k of SIZES) if (v[k] !== undefined) out[k] = readBytes(v[k], key(k), 0);
  return out;
}
