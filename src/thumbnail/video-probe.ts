// The streams' header, read by ffprobe under the sandbox without decoding a frame
// (`-nofind_stream_info`): codec, dimensions, rotation and duration, checked against the
// allowlist and the pixel limit before ffmpeg decodes anything.
import { MediaError } from "../errors.js";
import { atStage } from "./diagnostics.js";
import type { SniffedVideo } from "./video-sniff.js";
import { runSandboxed, type SandboxLimits, type SandboxResult } from "./video-process.js";

/**
 * Allowlisted video codecs (ffprobe's `codec_name`) → the ffmpeg 5.1 decoder forced for them
 * (`-c:v`, and the only name on `-codec_whitelist`). AV1 goes to dav1d: ffmpeg 5.1's native
 * `av1` decoder needs hardware.
 * @internal
 */
export const VIDEO_DECODERS: Readonly<Record<string, string>> = Object.freeze({
  h264: "h264",
  hevc: "hevc",
  vp8: "vp8",
  vp9: "vp9",
  av1: "libdav1d",
  mpeg4: "mpeg4",
});

/** What the header says about the first video stream. @internal */
export interface VideoHeader {
  readonly codec: string;
  readonly decoder: string;
  /** As coded, before rotation. */
  readonly codedWidth: number;
  readonly codedHeight: number;
  /** In display orientation (ffmpeg autorotates the decoded frame). */
  readonly width: number;
  readonly height: number;
  /** Degrees, as in the display matrix or `rotate` tag; 0 when absent. */
  readonly rotation: number;
  /** Seconds, when the container says. */
  readonly durationSeconds: number | undefined;
}

/** The probe's options. @internal */
export interface ProbeRun {
  readonly ffprobePath: string;
  readonly timeoutMs: number;
  readonly maxPixels: number;
  readonly limits: SandboxLimits;
}

const unreadable = (detail: string, cause?: unknown): MediaError =>
  atStage(
    "header",
    new MediaError("M_UNKNOWN", `Video is corrupt, truncated or cannot be read (${detail})`, {
      status: 400,
      cause,
    }),
  );

/** Refuses a run that did not end well, for any of ffmpeg's ways of ending badly. @internal */
export function checkRun(result: SandboxResult, what: string): void {
  if (result.timedOut) {
    throw new MediaError("M_UNKNOWN", `Timed out ${what}`, { status: 504 });
  }
  if (result.overflow) {
    throw new MediaError("M_TOO_LARGE", `Output of ${what} is over the thumbnailer's limit`, {
      status: 413,
    });
  }
  if (result.signal !== null) {
    // SIGXCPU/SIGKILL from RLIMIT_CPU, SIGSEGV/SIGABRT from a failed allocation under RLIMIT_AS.
    throw new MediaError(
      "M_UNKNOWN",
      `Video exceeded the thumbnailer's CPU or memory limit (${result.signal} while ${what})`,
      { status: 400 },
    );
  }
  if (result.code !== 0) throw unreadable(`${what} failed`, new Error(result.stderr.trim()));
}

const finite = (value: unknown): number | undefined => {
  const n = typeof value === "string" ? Number(value) : typeof value === "number" ? value : NaN;
  return Number.isFinite(n) ? n : undefined;
};

interface ProbedStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  duration?: string;
  tags?: { rotate?: string };
  side_data_list?: Array<{ rotation?: number }>;
}

/** The header of `file`'s first video stream, refused when outside the allowlist or limits. @internal */
export async function probeVideo(
  file: string,
  sniffed: SniffedVideo,
  run: ProbeRun,
): Promise<VideoHeader> {
  const args = [
    ...["-hide_banner", "-v", "error", "-nofind_stream_info"],
    ...["-protocol_whitelist", "file,pipe", "-f", sniffed.demuxer],
    ...["-select_streams", "V:0", "-of", "json"],
    ...["-show_entries", "stream=codec_type,codec_name,width,height,duration:stream_tags=rotate"],
    ...["-show_entries", "stream_side_data=rotation:format=duration"],
    ...["-i", file],
  ];
  const result = await runSandboxed(run.ffprobePath, args, run.limits, {
    timeoutMs: run.timeoutMs,
    maxStdoutBytes: 64 * 1024,
  });
  checkRun(result, "reading the video's header");
  let parsed: { streams?: ProbedStream[]; format?: { duration?: string } };
  try {
    parsed = JSON.parse(result.stdout.toString("utf8")) as typeof parsed;
  } catch (err) {
    throw unreadable("unparsable probe", err);
  }
  const stream = parsed.streams?.[0];
  if (stream?.codec_type !== "video") throw unreadable("no video stream");
  return checkStream(stream, parsed.format?.duration, run.maxPixels);
}

function checkStream(
  stream: ProbedStream,
  formatDuration: string | undefined,
  maxPixels: number,
): VideoHeader {
  const codec = stream.codec_name ?? "unknown";
  const decoder = Object.hasOwn(VIDEO_DECODERS, codec) ? VIDEO_DECODERS[codec] : undefined;
  if (decoder === undefined) {
    throw atStage(
      "header",
      new MediaError(
        "M_UNSUPPORTED",
        `Cannot thumbnail video encoded as ${codec}; supported: ${Object.keys(VIDEO_DECODERS).join(", ")}`,
        { status: 400 },
      ),
    );
  }
  const w = stream.width ?? 0;
  const h = stream.height ?? 0;
  if (!(w > 0 && h > 0)) throw unreadable("no dimensions");
  if (w * h > maxPixels) {
    throw atStage(
      "header",
      new MediaError(
        "M_TOO_LARGE",
        `Video is ${w}×${h} pixels, over the thumbnailer's maxPixels (${maxPixels})`,
        { status: 413 },
      ),
    );
  }
  const rotation =
    finite(stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation) ??
    finite(stream.tags?.rotate) ??
    0;
  const quarter = Math.abs(Math.round(rotation / 90)) % 2 === 1;
  const durationSeconds = finite(stream.duration) ?? finite(formatDuration);
  return {
    codec,
    decoder,
    codedWidth: w,
    codedHeight: h,
    width: quarter ? h : w,
    height: quarter ? w : h,
    rotation,
    durationSeconds:
      durationSeconds !== undefined && durationSeconds > 0 ? durationSeconds : undefined,
  };
}
