// The poster frame: where to start, which frame to keep, and the ffmpeg passes that decode it.
//
// Rule: a clip shorter than `shortClipMs` starts at 10% of its duration, any other clip (or
// one of unknown duration) at 0. From there ffmpeg decodes at most `posterWindowMs` and keeps
// the first frame that is not black (ffmpeg's blackframe: under 98% of its pixels with a luma
// of 32 or less); when every frame of that window is black, the frame at the start point.
import { MediaError } from "../errors.js";
import { checkRun, type VideoHeader } from "./video-probe.js";
import type { SniffedVideo } from "./video-sniff.js";
import { runSandboxed, type SandboxLimits } from "./video-process.js";

/** What one extraction needs. @internal */
export interface FrameRun {
  readonly ffmpegPath: string;
  readonly limits: SandboxLimits;
  readonly maxPixels: number;
  readonly threads: number;
  readonly shortClipMs: number;
  readonly posterWindowMs: number;
  readonly maxFrameBytes: number;
}

/** Every frame gets a pblack figure (amount=0), and frames mostly black are dropped. */
const NOT_BLACK =
  "blackframe=amount=0:threshold=32,metadata=mode=select:key=lavfi.blackframe.pblack:value=98:function=less";

/** Start point and window in seconds, by the rule above. @internal */
export function posterWindow(
  durationSeconds: number | undefined,
  run: Pick<FrameRun, "shortClipMs" | "posterWindowMs">,
): { start: number; window: number } {
  const short = durationSeconds !== undefined && durationSeconds * 1000 < run.shortClipMs;
  const start = short ? durationSeconds * 0.1 : 0;
  const rest = durationSeconds === undefined ? Infinity : durationSeconds - start;
  return { start, window: Math.max(0.001, Math.min(run.posterWindowMs / 1000, rest)) };
}

/** The ffmpeg arguments of one pass: one PNG frame on stdout. @internal */
export function frameArgs(
  file: string,
  sniffed: SniffedVideo,
  header: VideoHeader,
  run: FrameRun,
  pass: { start: number; window: number; skipBlack: boolean },
): string[] {
  const threads = String(run.threads);
  return [
    ...["-nostdin", "-hide_banner", "-loglevel", "error", "-filter_threads", threads],
    ...(pass.start > 0 ? ["-ss", pass.start.toFixed(3)] : []),
    // Input options: only the local file, only the sniffed demuxer, only the probed decoder.
    ...["-protocol_whitelist", "file,pipe", "-f", sniffed.demuxer],
    ...["-codec_whitelist", header.decoder, "-c:v", header.decoder, "-threads", threads],
    ...["-max_pixels", String(run.maxPixels), "-i", file],
    // Output: the first video stream that is not cover art (V, not v); no audio, subtitle,
    // data or attachment.
    ...["-map", "0:V:0", "-an", "-sn", "-dn", "-t", pass.window.toFixed(3)],
    ...(pass.skipBlack ? ["-vf", NOT_BLACK] : []),
    ...["-frames:v", "1", "-pix_fmt", "rgb24", "-c:v", "png", "-compression_level", "1"],
    ...["-f", "image2pipe", "pipe:1"],
  ];
}

/**
 * Decodes the poster frame of `file` as a PNG within `timeoutMs` for every pass together.
 * @internal
 */
export async function extractPosterFrame(
  file: string,
  sniffed: SniffedVideo,
  header: VideoHeader,
  run: FrameRun,
  timeoutMs: number,
  now: () => number = () => performance.now(),
): Promise<Buffer> {
  const deadline = now() + timeoutMs;
  const { start, window } = posterWindow(header.durationSeconds, run);
  for (const skipBlack of [true, false]) {
    const args = frameArgs(file, sniffed, header, run, { start, window, skipBlack });
    const result = await runSandboxed(run.ffmpegPath, args, run.limits, {
      timeoutMs: Math.max(1, deadline - now()),
      maxStdoutBytes: run.maxFrameBytes,
    });
    checkRun(result, "decoding the poster frame");
    if (result.stdout.length > 0) return result.stdout;
  }
  throw new MediaError("M_UNKNOWN", "Video has no frame that can be decoded", { status: 400 });
}
