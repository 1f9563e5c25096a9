// Which thumbnail serves a request: the parameter policy, the stored thumbnail that fits, and
// the size to generate when none does (snapped to the configured sizes; a dynamic, exact size
// only when the thumbnailer offers it and the media's allowance is not used up).
import { MediaError } from "../errors.js";
import type { ThumbnailRecord } from "../metadata/types.js";
import { selectSize } from "../thumbnail/sizes.js";
import { isVideoType } from "../thumbnail/video-sniff.js";
import type { ThumbnailerLike, ThumbnailOptions, ThumbnailSize } from "./types.js";

/** @internal */
export interface Dimensions {
  width: number;
  height: number;
}

/** A validated client request, or a size chosen to serve it. @internal */
export interface WantedThumbnail {
  readonly size: ThumbnailSize;
  readonly animated: boolean;
}

/**
 * Whether an upload of `type` (sniffed, else declared) gets its thumbnails pre-generated:
 * images, and MP4, QuickTime, WebM and Matroska videos (a poster frame). The thumbnailer
 * still sniffs the bytes and refuses what it cannot read; on demand, any type is tried once.
 * @internal
 */
export function thumbnailedAtUpload(type: string): boolean {
  const mime = type.split(";")[0]!.trim().toLowerCase();
  // file-type names Matroska "video/matroska"; uploaders send "video/x-matroska".
  return mime.startsWith("image/") || isVideoType(mime) || mime === "video/matroska";
}

/** The thumbnail parameter policy: positive integer dimensions, `crop` or `scale`. @internal */
export function thumbnailRequest(opts: ThumbnailOptions): WantedThumbnail {
  const size = { width: opts.width, height: opts.height, method: opts.method ?? "scale" };
  for (const [name, value] of [
    ["width", size.width],
    ["height", size.height],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new MediaError("M_INVALID_PARAM", `Expected a positive integer ${name}`);
    }
  }
  if (size.method !== "crop" && size.method !== "scale") {
    throw new MediaError("M_INVALID_PARAM", "Expected method crop or scale");
  }
  return { size, animated: opts.animated === true };
}

/** True when `thumb` serves a request for `want` (at least as large, unless the source is smaller). @internal */
export function thumbnailFits(
  thumb: ThumbnailSize,
  want: ThumbnailSize,
  source: Dimensions | undefined,
): boolean {
  if (thumb.method !== want.method) return false;
  if (want.method === "scale") {
    // A scaled thumbnail keeps the source's aspect ratio, so reaching the requested box in
    // either dimension means it is at least as large as the requested fit.
    if (thumb.width >= want.width || thumb.height >= want.height) return true;
  } else {
    const aspect = Math.abs(thumb.width / thumb.height - want.width / want.height);
    if (aspect > 0.02 * (want.width / want.height)) return false;
    if (thumb.width >= want.width && thumb.height >= want.height) return true;
  }
  // The source itself is smaller than asked: the full-size thumbnail is the largest there is.
  return source !== undefined && (thumb.width >= source.width || thumb.height >= source.height);
}

/** The smallest stored thumbnail that serves the request, animated ones first when asked. @internal */
export function pickStored(
  existing: readonly ThumbnailRecord[],
  want: WantedThumbnail,
  source: Dimensions | undefined,
): ThumbnailRecord | undefined {
  const { animated } = want;
  return existing
    .filter((t) => (animated ? true : !t.animated) && thumbnailFits(t, want.size, source))
    .sort(
      (a, b) =>
        Number(b.animated === animated) - Number(a.animated === animated) ||
        a.width * a.height - b.width * b.height,
    )[0];
}

/** @internal */
export const sameSize = (a: ThumbnailSize, b: ThumbnailSize): boolean =>
  a.width === b.width && a.height === b.height && a.method === b.method;

/**
 * True when a stored thumbnail has the dimensions a configured size yields: a crop exactly
 * its size, a scale its width or its height (a scale keeps the source's aspect ratio, so for
 * one source a width or a height names one thumbnail). Thumbnail records carry no mark of
 * why they were made; this reads it from their dimensions instead, and can err only towards
 * a bounded few (one per configured width or height).
 */
function hasConfiguredDimensions(
  thumb: ThumbnailRecord,
  configured: readonly ThumbnailSize[],
): boolean {
  return configured.some(
    (s) =>
      s.method === thumb.method &&
      (thumb.method === "crop"
        ? s.width === thumb.width && s.height === thumb.height
        : s.width === thumb.width || s.height === thumb.height),
  );
}

/**
 * How many more dynamic sizes a media may get: `max`, less its stored thumbnails that do not
 * have a configured size's dimensions and those being generated now.
 * @internal
 */
export function dynamicRoom(
  max: number,
  existing: readonly ThumbnailRecord[],
  configured: readonly ThumbnailSize[],
  inFlight: number,
): number {
  const stored = existing.filter((t) => !hasConfiguredDimensions(t, configured)).length;
  return max - stored - inFlight;
}

/** The size to generate (or serve, when stored) for a request. @internal */
export interface ThumbnailTarget {
  readonly size: ThumbnailSize;
  /** Not a configured size: counted against the media's dynamic allowance. */
  readonly dynamic: boolean;
}

/**
 * Which size answers `want` when no stored thumbnail fits it: the thumbnailer's pick (a
 * configured size, or the exact request when its `dynamic` option allows); a dynamic pick only
 * while `room` > 0, else the nearest configured size, or with none declared the nearest
 * stored one. A media with nothing stored and no configured sizes still gets its first one.
 * @internal
 */
export function chooseTarget(
  thumbnailer: Pick<ThumbnailerLike, "sizes" | "pickSize">,
  want: WantedThumbnail,
  existing: readonly ThumbnailRecord[],
  source: Dimensions | undefined,
  room: number,
): ThumbnailTarget {
  const configured = thumbnailer.sizes ?? [];
  const picked = thumbnailer.pickSize ? thumbnailer.pickSize(want.size, source) : want.size;
  if (configured.some((s) => sameSize(s, picked))) return { size: picked, dynamic: false };
  if (room > 0) return { size: picked, dynamic: true };
  if (configured.length > 0) {
    return { size: selectSize(configured, want.size, source), dynamic: false };
  }
  const stored = existing.filter((t) => want.animated || !t.animated);
  if (stored.length === 0) return { size: picked, dynamic: true };
  return { size: selectSize(stored, want.size), dynamic: false };
}
