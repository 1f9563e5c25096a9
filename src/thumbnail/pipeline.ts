import sharp, { type Sharp, type SharpOptions, type TimeoutOptions } from "sharp";
import { decodeApng } from "./apng.js";
import type { InspectedSource } from "./inspect.js";
import { orientedFrames } from "./orient.js";
import type { ThumbnailerSettings } from "./options.js";
import { outputDimensions, scaleFactor } from "./sizes.js";
import type {
  Dimensions,
  ThumbnailContentType,
  ThumbnailRequest,
  ThumbnailResult,
  ThumbnailSize,
} from "./types.js";

/**
 * The settings the decode and encode steps read.
 * @internal
 */
export type PipelineSettings = Pick<
  ThumbnailerSettings,
  | "failOn"
  | "maxPixels"
  | "maxFrames"
  | "maxAnimationPixels"
  | "animated"
  | "jpegQuality"
  | "webpQuality"
  | "timeoutMs"
>;

interface DecodePlan {
  options: SharpOptions;
  animated: boolean;
  frames: number;
}

type OutputFormat = "jpeg" | "png" | "webp";

const CONTENT_TYPES: Record<OutputFormat, ThumbnailContentType> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
};

/**
 * libvips' own deadline, in whole seconds: the caller's exact deadline is the queue's.
 * @internal
 */
export const libvipsTimeout = (s: Pick<ThumbnailerSettings, "timeoutMs">): TimeoutOptions => ({
  seconds: Math.max(1, Math.ceil(s.timeoutMs / 1000)),
});

const display = (info: InspectedSource): Dimensions => ({
  width: info.width,
  height: info.height,
});

const fitOf = (method: ThumbnailSize["method"]): "cover" | "fill" =>
  method === "crop" ? "cover" : "fill";

/**
 * How to decode `info`: one frame, or as many frames as the animation limits allow.
 * @internal
 */
export function planDecode(
  info: InspectedSource,
  wantAnimated: boolean,
  s: PipelineSettings,
): DecodePlan {
  const base: SharpOptions = { failOn: s.failOn, autoOrient: true, limitInputPixels: s.maxPixels };
  // libvips cannot rotate a stack of frames: an animated source with an EXIF orientation is
  // decoded unrotated and turned frame by frame (see `open`); APNG, composed by hand, is
  // not, so an oriented APNG still gets a still.
  const turnable = info.orientation === 1 || info.mime !== "image/apng";
  if (wantAnimated && s.animated && info.animated && turnable) {
    const frames = Math.min(
      info.frames,
      s.maxFrames,
      Math.floor(s.maxAnimationPixels / info.framePixels),
    );
    if (frames > 1) {
      return {
        options: { ...base, pages: frames, limitInputPixels: frames * info.framePixels },
        animated: true,
        frames,
      };
    }
  }
  return { options: base, animated: false, frames: 1 };
}

/**
 * The decode of `source` for a plan. Animated APNG is composed frame by frame (libvips only
 * reads its default image), and an animated source with an EXIF orientation is turned frame
 * by frame; both come back already shrunk by `factor`.
 */
async function open(
  source: Buffer,
  info: InspectedSource,
  plan: DecodePlan,
  factor: number,
  s: PipelineSettings,
): Promise<{ image: Sharp; frames: number; shrunk: boolean }> {
  const work = {
    width: Math.min(info.width, Math.max(1, Math.ceil(info.width * factor))),
    height: Math.min(info.height, Math.max(1, Math.ceil(info.height * factor))),
  };
  if (plan.animated && info.orientation !== 1 && info.mime !== "image/apng") {
    const quarter = info.orientation >= 5;
    const stored = quarter ? { width: work.height, height: work.width } : work;
    const turned = await orientedFrames(
      source,
      plan.options,
      plan.frames,
      info.orientation,
      stored,
    );
    return { ...turned, shrunk: true };
  }
  if (!(plan.animated && info.mime === "image/apng")) {
    return { image: sharp(source, plan.options), frames: plan.frames, shrunk: false };
  }
  const frames = await decodeApng(source, plan.frames, work, {
    failOn: s.failOn,
    limitInputPixels: s.maxPixels,
  });
  const image = sharp(frames.data, {
    raw: {
      width: frames.width,
      height: frames.pageHeight * frames.frames,
      channels: 4,
      pageHeight: frames.pageHeight,
    },
    pages: -1,
  });
  return { image, frames: frames.frames, shrunk: true };
}

function encode(
  image: Sharp,
  format: OutputFormat,
  info: InspectedSource,
  frames: number,
  s: PipelineSettings,
): Sharp {
  if (format === "jpeg") return image.jpeg({ quality: s.jpegQuality });
  if (format === "png") return image.png();
  return image.webp({
    quality: s.webpQuality,
    effort: 2,
    loop: info.loop ?? 0,
    ...(info.delay && info.delay.length > 0 ? { delay: info.delay.slice(0, frames) } : {}),
  });
}

async function finish(
  image: Sharp,
  info: InspectedSource,
  animated: boolean,
  frames: number,
  request: ThumbnailRequest,
  s: PipelineSettings,
): Promise<ThumbnailResult> {
  const format: OutputFormat = animated ? "webp" : info.hasAlpha ? "png" : "jpeg";
  const { data, info: out } = await encode(
    image.timeout(libvipsTimeout(s)),
    format,
    info,
    frames,
    s,
  ).toBuffer({ resolveWithObject: true });
  return {
    data,
    contentType: CONTENT_TYPES[format],
    width: out.width,
    height: out.pageHeight ?? out.height,
    method: request.method,
    animated,
    requestedWidth: request.width,
    requestedHeight: request.height,
  };
}

/**
 * One thumbnail of exactly `request` (never upscaled), decoded shrink-on-load for it.
 * @internal
 */
export async function renderOne(
  source: Buffer,
  info: InspectedSource,
  request: ThumbnailRequest,
  s: PipelineSettings,
): Promise<ThumbnailResult> {
  const plan = planDecode(info, request.animated === true, s);
  const out = outputDimensions(display(info), request);
  const opened = await open(source, info, plan, scaleFactor(display(info), request), s);
  const image = opened.image
    .resize(out.width, out.height, { fit: fitOf(request.method) })
    .toColourspace("srgb");
  return finish(image, info, plan.animated, opened.frames, request, s);
}

/**
 * A source decoded once to raw sRGB pixels, shrunk as far as the largest of a set of sizes
 * allows, from which each size is then derived.
 * @internal
 */
export interface DecodedSource {
  readonly animated: boolean;
  /** Encodes one size from the shared pixels. */
  render(size: ThumbnailSize): Promise<ThumbnailResult>;
  /** The shared pixels' first frame, as a fresh pipeline. */
  firstFrame(): Sharp;
}

/**
 * Decodes `source` once for every size in `sizes`.
 * @internal
 */
export async function decodeForSizes(
  source: Buffer,
  info: InspectedSource,
  sizes: readonly ThumbnailSize[],
  wantAnimated: boolean,
  s: PipelineSettings,
): Promise<DecodedSource> {
  const plan = planDecode(info, wantAnimated, s);
  const src = display(info);
  const factor = Math.max(...sizes.map((size) => scaleFactor(src, size)));
  const opened = await open(source, info, plan, factor, s);
  let decode = opened.image.timeout(libvipsTimeout(s));
  if (factor < 1 && !opened.shrunk) {
    decode = decode.resize(
      Math.min(src.width, Math.ceil(src.width * factor)),
      Math.min(src.height, Math.ceil(src.height * factor)),
      { fit: "fill" },
    );
  }
  const { data, info: mid } = await decode
    .toColourspace("srgb")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  const pageHeight = plan.animated ? (mid.pageHeight ?? mid.height) : mid.height;
  const pixels = (): Sharp =>
    sharp(data, {
      raw: {
        width: mid.width,
        height: mid.height,
        channels: mid.channels,
        ...(plan.animated ? { pageHeight } : {}),
      },
      ...(plan.animated ? { pages: -1 } : {}),
    });
  return {
    animated: plan.animated,
    render(size) {
      const out = outputDimensions(src, size);
      const image = pixels().resize(out.width, out.height, { fit: fitOf(size.method) });
      return finish(image, info, plan.animated, opened.frames, size, s);
    },
    firstFrame: () =>
      plan.animated
        ? pixels().extract({ left: 0, top: 0, width: mid.width, height: pageHeight })
        : pixels(),
  };
}

/**
 * A still decode of the whole source (first frame), for derived images such as placeholders.
 * @internal
 */
export function openStill(source: Buffer, info: InspectedSource, s: PipelineSettings): Sharp {
  return sharp(source, planDecode(info, false, s).options);
}
