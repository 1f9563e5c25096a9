// Thumbnails: the parameter policy, choosing a stored thumbnail, generating a missing one
// once per (media, size) in this process, pre-generating after an upload, and remembering
// sources that cannot be thumbnailed.
import { channel } from "node:diagnostics_channel";
import { LRUCache } from "lru-cache";
import { MediaError } from "../errors.js";
import { createSingleFlight, type SingleFlight } from "../internal/single-flight.js";
import type { MediaRecord, ThumbnailRecord } from "../metadata/types.js";
import { blobCacheKey, loadCached, loadWhole } from "./blobs.js";
import type { RepositoryContext } from "./context.js";
import type {
  ThumbnailBody,
  ThumbnailerLike,
  ThumbnailOptions,
  ThumbnailResult,
  ThumbnailSize,
} from "./types.js";

const thumbnailChannel = channel("matrix-media-kit:repository:thumbnail");

/** Bound of each per-source memory below. */
const REMEMBERED_SOURCES = 10_000;

interface Dimensions {
  width: number;
  height: number;
}

/** What this process remembers about thumbnails between requests. @internal */
export interface ThumbnailState {
  /** On-demand generations in flight, by media, size, method and `animated`. */
  readonly flights: SingleFlight<ThumbnailBody>;
  /** Sources the thumbnailer refused as unsupported, by sha256: never read for it again. */
  readonly refusedSources: LRUCache<string, MediaError>;
  /** Source dimensions learnt from thumbnails bounded by their source, by sha256. */
  readonly sourceSizes: LRUCache<string, Dimensions>;
}

/** @internal */
export function createThumbnailState(): ThumbnailState {
  return {
    flights: createSingleFlight<ThumbnailBody>(),
    refusedSources: new LRUCache({ max: REMEMBERED_SOURCES }),
    sourceSizes: new LRUCache({ max: REMEMBERED_SOURCES }),
  };
}

/** A validated client request. @internal */
export interface WantedThumbnail {
  readonly size: ThumbnailSize;
  readonly animated: boolean;
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

function thumbnailFits(
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

function toBody(thumb: ThumbnailRecord, buffer: Buffer): ThumbnailBody {
  return {
    contentType: thumb.contentType,
    width: thumb.width,
    height: thumb.height,
    method: thumb.method,
    animated: thumb.animated,
    sha256: thumb.sha256,
    buffer,
  };
}

/** The smallest stored thumbnail that serves the request, animated ones first when asked. */
function pickStored(
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

async function serveStored(
  ctx: RepositoryContext,
  record: MediaRecord,
  want: WantedThumbnail,
): Promise<ThumbnailBody | undefined> {
  const existing = await ctx.metadata.getThumbnails(record.origin, record.mediaId);
  const best = pickStored(existing, want, ctx.thumbnails.sourceSizes.get(record.sha256));
  if (!best) return undefined;
  try {
    const body = toBody(best, await loadCached(ctx, best));
    if (thumbnailChannel.hasSubscribers) thumbnailChannel.publish({ record, hit: true });
    return body;
  } catch (error) {
    if (MediaError.is(error) && error.errcode === "M_NOT_FOUND") return undefined; // regenerate
    throw error;
  }
}

function tooLargeToThumbnail(ctx: RepositoryContext, record: MediaRecord): boolean {
  return record.size > ctx.limits.maxThumbnailSourceBytes;
}

/** Refuses, without reading it, a source too large or already refused by the thumbnailer. */
function checkSource(ctx: RepositoryContext, record: MediaRecord): void {
  if (tooLargeToThumbnail(ctx, record)) {
    throw new MediaError("M_TOO_LARGE", "The media is too large to thumbnail", { status: 400 });
  }
  const refusal = ctx.thumbnails.refusedSources.get(record.sha256);
  if (refusal) throw refusal;
}

/**
 * A thumbnail of `record` at least as large as asked (unless the source is smaller): a
 * stored one, or one generated now, once for concurrent requests of the same size. @internal
 */
export async function thumbnailFor(
  ctx: RepositoryContext,
  record: MediaRecord,
  want: WantedThumbnail,
): Promise<ThumbnailBody> {
  const { thumbnailer } = ctx;
  if (!thumbnailer) throw new MediaError("M_NOT_FOUND", "Thumbnails are not enabled");
  const stored = await serveStored(ctx, record, want);
  if (stored) return stored;
  checkSource(ctx, record);
  const { width, height, method } = want.size;
  const flightKey = `${record.origin}/${record.mediaId}/${width}x${height}/${method}/${want.animated}`;
  return ctx.thumbnails.flights.run(flightKey, () =>
    generateOnDemand(ctx, thumbnailer, record, want),
  );
}

async function generateOnDemand(
  ctx: RepositoryContext,
  thumbnailer: ThumbnailerLike,
  record: MediaRecord,
  want: WantedThumbnail,
): Promise<ThumbnailBody> {
  try {
    // Loading is kept apart from rendering so that one load can later serve several sizes.
    const source = await loadWhole(ctx, record);
    return await renderAndStore(ctx, thumbnailer, record, source, want);
  } catch (error) {
    // Bytes the thumbnailer cannot read are not read from the datastore again.
    if (MediaError.is(error) && error.errcode === "M_UNSUPPORTED") {
      ctx.thumbnails.refusedSources.set(record.sha256, error);
    }
    throw error;
  }
}

/** Generates one size from a loaded source, stores it and caches it when small. */
async function renderAndStore(
  ctx: RepositoryContext,
  thumbnailer: ThumbnailerLike,
  record: MediaRecord,
  source: Buffer,
  want: WantedThumbnail,
): Promise<ThumbnailBody> {
  const { sourceSizes } = ctx.thumbnails;
  const picked = thumbnailer.pickSize
    ? thumbnailer.pickSize(want.size, sourceSizes.get(record.sha256))
    : want.size;
  // No configured size is large enough: make the requested one (never upscaled).
  const size = thumbnailFits(picked, want.size, undefined) ? picked : want.size;
  const result = await thumbnailer.generate(source, { ...size, animated: want.animated });
  if (result.width < want.size.width && result.height < want.size.height) {
    // Smaller than asked in both dimensions: the source bounded it.
    sourceSizes.set(record.sha256, { width: result.width, height: result.height });
  }
  const thumb = await storeThumbnail(ctx, record, result);
  if (ctx.cache && thumb.size <= ctx.limits.maxCachedBytes) {
    await ctx.cache.set(blobCacheKey(thumb.sha256), result.data);
  }
  if (thumbnailChannel.hasSubscribers) thumbnailChannel.publish({ record, hit: false });
  return toBody(thumb, result.data);
}

async function storeThumbnail(
  ctx: RepositoryContext,
  record: MediaRecord,
  result: ThumbnailResult,
): Promise<ThumbnailRecord> {
  const datastore = ctx.datastores.forKind("thumbnail");
  const put = await datastore.put(result.data, { contentType: result.contentType });
  const thumb: ThumbnailRecord = {
    origin: record.origin,
    mediaId: record.mediaId,
    width: result.width,
    height: result.height,
    method: result.method,
    animated: result.animated,
    contentType: result.contentType,
    size: put.size,
    sha256: put.sha256,
    datastoreId: datastore.id,
    location: put.key,
    createdAt: ctx.now(),
  };
  await ctx.metadata.putThumbnail(thumb);
  return thumb;
}

/** Pre-generates the thumbnailer's configured sizes of a fresh image in the background. @internal */
export function scheduleThumbnails(
  ctx: RepositoryContext,
  record: MediaRecord,
  sniffed: string | undefined,
): void {
  const { thumbnailer } = ctx;
  if (!thumbnailer?.generateAll) return;
  const type = sniffed ?? record.contentType;
  if (!type.startsWith("image/") || tooLargeToThumbnail(ctx, record)) return;
  const generateAll = thumbnailer.generateAll.bind(thumbnailer);
  ctx.background.track(
    (async () => {
      const source = await loadWhole(ctx, record);
      const results = await generateAll(source, { animated: false });
      for (const result of results) await storeThumbnail(ctx, record, result);
    })().catch((error: unknown) => {
      ctx.logger?.debug?.("no pre-generated thumbnails", { error, mediaId: record.mediaId });
    }),
  );
}
