import { encode as encodeBlurhash } from "blurhash";
import type { Sharp, TimeoutOptions } from "sharp";
import type { ThumbnailResult } from "./types.js";

/** Longest edge of the image a blurhash is computed from. */
const PLACEHOLDER_EDGE = 32;

/**
 * A blurhash (4×3 components, 3×4 for portrait) of `image`, from a ≤32 px *scale* rendering
 * of it: clients show it in place of the whole picture, so it is never taken from a crop.
 * @internal
 */
export async function blurhashOf(
  image: Sharp,
  timeout: TimeoutOptions,
): Promise<{ blurhash: string; width: number; height: number }> {
  const { data, info } = await image
    .resize(PLACEHOLDER_EDGE, PLACEHOLDER_EDGE, { fit: "inside", withoutEnlargement: true })
    .toColourspace("srgb")
    .ensureAlpha()
    .raw({ depth: "uchar" })
    .timeout(timeout)
    .toBuffer({ resolveWithObject: true });
  const [x, y] = info.width >= info.height ? [4, 3] : [3, 4];
  const pixels = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length);
  return {
    blurhash: encodeBlurhash(pixels, info.width, info.height, x, y),
    width: info.width,
    height: info.height,
  };
}

/**
 * Attaches `blurhash` to the smallest of `results` (the one a client fetches first).
 * @internal
 */
export function attachToSmallest(results: ThumbnailResult[], blurhash: string): void {
  let smallest = results[0];
  for (const r of results) {
    if (smallest === undefined || r.width * r.height < smallest.width * smallest.height) {
      smallest = r;
    }
  }
  if (smallest !== undefined) smallest.blurhash = blurhash;
}
