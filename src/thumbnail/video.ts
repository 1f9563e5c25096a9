// The video frame extractor behind the thumbnailer: the bytes go to a private temp file
// (0600 in a 0700 directory, removed whatever happens), ffprobe reads the header, ffmpeg
// decodes one frame as PNG, both sandboxed; the frame then takes the images' pipeline.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { MediaError } from "../errors.js";
import { atStage } from "./diagnostics.js";
import { extractPosterFrame } from "./video-frame.js";
import type { ThumbnailerLogger, VideoSettings } from "./video-options.js";
import { runSandboxed, type SandboxLimits } from "./video-process.js";
import { probeVideo, type VideoHeader } from "./video-probe.js";
import type { SniffedVideo } from "./video-sniff.js";

/**
 * Whether this thumbnailer can make video thumbnails, and why not.
 *
 * @example
 * ```ts
 * const { available, reason } = await thumbnailer.videoSupport();
 * if (!available) console.log("no video thumbnails:", reason);
 * ```
 */
export interface VideoSupport {
  /** True when ffmpeg and ffprobe run under the sandbox. */
  readonly available: boolean;
  /** Why not, when unavailable. */
  readonly reason?: string;
}

/** @internal */
export interface VideoExtractor {
  support(): Promise<VideoSupport>;
  /** The header of a sniffed video, checked; nothing decoded. */
  header(bytes: Buffer, sniffed: SniffedVideo): Promise<VideoHeader>;
  /** The poster frame as PNG, in display orientation, and the header it came from. */
  posterFrame(
    bytes: Buffer,
    sniffed: SniffedVideo,
  ): Promise<{ frame: Buffer; header: VideoHeader }>;
}

const DEFAULT_LOGGER: ThumbnailerLogger = {
  warn: (message) => process.emitWarning(message, "MatrixMediaKitWarning"),
};

async function withPrivateFile<T>(bytes: Buffer, use: (file: string) => Promise<T>): Promise<T> {
  // mkdtemp creates the directory 0700; the file is created 0600 and never existed before.
  const dir = await mkdtemp(path.join(tmpdir(), "mmk-video-"));
  try {
    const file = path.join(dir, "source");
    await writeFile(file, bytes, { mode: 0o600, flag: "wx" });
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function checkBinaries(v: VideoSettings, limits: SandboxLimits): Promise<VideoSupport> {
  for (const binary of [v.ffmpegPath, v.ffprobePath]) {
    try {
      const r = await runSandboxed(binary, ["-hide_banner", "-version"], limits, {
        timeoutMs: v.maxDurationProbeMs,
        maxStdoutBytes: 64 * 1024,
      });
      if (r.code !== 0) {
        const why = r.stderr.trim().split("\n").at(-1) || `exit code ${r.code ?? r.signal}`;
        return { available: false, reason: `cannot run ${binary}: ${why}` };
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return { available: false, reason: `cannot run ${v.prlimitPath}: ${why}` };
    }
  }
  return { available: true };
}

/** @internal */
export function createVideoExtractor(
  v: VideoSettings,
  maxPixels: number,
  logger: ThumbnailerLogger = DEFAULT_LOGGER,
): VideoExtractor {
  const limits: SandboxLimits = {
    prlimitPath: v.prlimitPath,
    cpuSeconds: v.cpuSeconds,
    memoryBytes: v.memoryBytes,
    maxOpenFiles: v.maxOpenFiles,
    maxProcesses: v.maxProcesses,
  };
  const probeRun = {
    ffprobePath: v.ffprobePath,
    timeoutMs: v.maxDurationProbeMs,
    maxPixels,
    limits,
  };
  const frameRun = { ...v, limits, maxPixels };
  let checked: Promise<VideoSupport> | undefined;
  const support = (): Promise<VideoSupport> => {
    if (!v.enabled) return Promise.resolve({ available: false, reason: "video.enabled is false" });
    checked ??= checkBinaries(v, limits).then((result) => {
      if (!result.available) {
        logger.warn(`Video thumbnails are unavailable (${result.reason}); videos get no thumbnail`);
      }
      return result;
    });
    return checked;
  };

  const admit = async (bytes: Buffer, sniffed: SniffedVideo): Promise<void> => {
    const { available, reason } = await support();
    if (!available) {
      throw atStage(
        "sniff",
        new MediaError("M_UNSUPPORTED", `Cannot thumbnail ${sniffed.mime}: ${reason}`, {
          status: 400,
        }),
      );
    }
    if (bytes.length > v.maxInputBytes) {
      throw atStage(
        "input",
        new MediaError(
          "M_TOO_LARGE",
          `Video is ${bytes.length} bytes, over the thumbnailer's video.maxInputBytes (${v.maxInputBytes})`,
          { status: 413 },
        ),
      );
    }
  };

  return {
    support,
    async header(bytes, sniffed) {
      await admit(bytes, sniffed);
      return withPrivateFile(bytes, (file) => probeVideo(file, sniffed, probeRun));
    },
    async posterFrame(bytes, sniffed) {
      await admit(bytes, sniffed);
      return withPrivateFile(bytes, async (file) => {
        const header = await probeVideo(file, sniffed, probeRun);
        const frame = await extractPosterFrame(file, sniffed, header, frameRun, v.timeoutMs);
        return { frame, header };
      });
    },
  };
}
