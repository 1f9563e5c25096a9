import type { Dimensions, ThumbnailMethod, ThumbnailSize } from "./types.js";

/**
 * The sizes generated at upload time and used to serve thumbnail requests.
 *
 * @defaultValue 32×32 crop, 96×96 crop, 320×240 scale, 640×480 scale, 800×600 scale
 *
 * @example
 * ```ts
 * import { createThumbnailer, DEFAULT_THUMBNAIL_SIZES } from "matrix-media-kit/thumbnail";
 * const thumbnailer = createThumbnailer({
 *   sizes: [...DEFAULT_THUMBNAIL_SIZES, { width: 1280, height: 960, method: "scale" }],
 * });
 * ```
 */
export const DEFAULT_THUMBNAIL_SIZES: readonly ThumbnailSize[] = Object.freeze([
  Object.freeze({ width: 32, height: 32, method: "crop" }),
  Object.freeze({ width: 96, height: 96, method: "crop" }),
  Object.freeze({ width: 320, height: 240, method: "scale" }),
  Object.freeze({ width: 640, height: 480, method: "scale" }),
  Object.freeze({ width: 800, height: 600, method: "scale" }),
] as const satisfies readonly ThumbnailSize[]);

/**
 * The dimensions a thumbnail of `request` has for a source of `source` (display orientation),
 * following the Matrix spec and never upscaling:
 *
 * - `scale`: fits inside width × height keeping the aspect ratio; a source that already fits
 *   keeps its own size.
 * - `crop`: exactly width × height (centre crop) when the source covers it; otherwise the
 *   largest centred crop of the requested aspect ratio that fits in the source, unscaled.
 *
 * @example
 * ```ts
 * outputDimensions({ width: 4000, height: 3000 }, { width: 320, height: 240, method: "scale" });
 * // { width: 320, height: 240 }
 * outputDimensions({ width: 1, height: 1 }, { width: 32, height: 32, method: "crop" });
 * // { width: 1, height: 1 }
 * ```
 */
export function outputDimensions(source: Dimensions, request: ThumbnailSize): Dimensions {
  const { width: sw, height: sh } = source;
  const { width: rw, height: rh } = request;
  if (request.method === "scale") {
    if (sw <= rw && sh <= rh) return { width: sw, height: sh };
    const f = Math.min(rw / sw, rh / sh);
    return {
      width: Math.max(1, Math.min(rw, Math.round(sw * f))),
      height: Math.max(1, Math.min(rh, Math.round(sh * f))),
    };
  }
  if (sw >= rw && sh >= rh) return { width: rw, height: rh };
  const ratio = rw / rh;
  if (sw / sh > ratio) {
    return { width: Math.max(1, Math.min(sw, Math.round(sh * ratio))), height: sh };
  }
  return { width: sw, height: Math.max(1, Math.min(sh, Math.round(sw / ratio))) };
}

/**
 * The scale factor (output / source, at most 1) a thumbnail needs so that both of its
 * dimensions are available in a downscaled copy of the source.
 */
export function scaleFactor(source: Dimensions, request: ThumbnailSize): number {
  const out = outputDimensions(source, request);
  return Math.min(1, Math.max(out.width / source.width, out.height / source.height));
}

const area = (d: Dimensions): number => d.width * d.height;

/** True when `a` is at least as large as `b` in both dimensions. */
const covers = (a: Dimensions, b: Dimensions): boolean =>
  a.width >= b.width && a.height >= b.height;

/**
 * Chooses which configured size serves `request`: the smallest size of the same method that
 * is at least the requested size (compared on the dimensions the thumbnails would really
 * have when `source` is given, so that a small source is not served a needlessly large size);
 * when none is large enough, the largest size of that method; when no size has that method,
 * the largest size of any method.
 */
export function selectSize(
  sizes: readonly ThumbnailSize[],
  request: ThumbnailSize,
  source?: Dimensions,
): ThumbnailSize {
  const effective = (s: ThumbnailSize): Dimensions =>
    source === undefined ? { width: s.width, height: s.height } : outputDimensions(source, s);
  const wanted = effective(request);
  const sameMethod = sizes.filter((s) => s.method === request.method);
  const pool = sameMethod.length > 0 ? sameMethod : sizes;
  let best: ThumbnailSize | undefined;
  for (const s of pool) {
    if (!covers(effective(s), wanted)) continue;
    if (best === undefined || area(s) < area(best)) best = s;
  }
  if (best !== undefined) return best;
  let largest = pool[0]!;
  for (const s of pool) if (area(s) > area(largest)) largest = s;
  return largest;
}

/** Validates a request's shape; returns a message describing the problem, or undefined. */
export function describeInvalidRequest(
  request: { width?: unknown; height?: unknown; method?: unknown },
  maxDimension: number,
): string | undefined {
  for (const key of ["width", "height"] as const) {
    const v = request[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > maxDimension) {
      return `Thumbnail ${key} must be an integer from 1 to ${maxDimension}`;
    }
  }
  const m = request.method as ThumbnailMethod | undefined;
  if (m !== "crop" && m !== "scale") return 'Thumbnail method must be "crop" or "scale"';
  return undefined;
}
