// Thumbnails: serving a stored one, generating a missing one once per (media, size) in this
// process from one shared, budgeted load of the source that is read only once the
// thumbnailer admits the job, pre-generating after an upload, and remembering sources that
// cannot be thumbnailed. Which size serves a request is thumbnail-policy's.
import { channel } from "node:diagnostics_channel";
import { LRUCache } from "lru-cache";
import { MediaError } from "../errors.js";
import { createSingleFlight, type SingleFlight } from "../internal/single-flight.js";
import type { MediaRecord, ThumbnailRecord } from "../metadata/types.js";
import { blobCacheKey, loadCached, loadWhole, SharedBlobs } from "./blobs.js";
import type { RepositoryContext } from "./context.js";
import {
  chooseTarget,
  dynamicRoom,
  pickStored,
  sameSize,
  thumbnailedAtUpload,
  type Dimensions,
  type WantedThumbnail,
} from "./thumbnail-policy.js";
import type { RepositoryLimits, ThumbnailBody, ThumbnailerLike, ThumbnailResult } from "./types.js";

export { thumbnailRequest, type WantedThumbnail } from "./thumbnail-policy.js";

const thumbnailChannel = channel("matrix-media-kit:repository:thumbnail");

/** Bound of each per-source memory below. */
const REMEMBERED_SOURCES = 10_000;

/** What this process remembers about thumbnails between requests. @internal */
export interface ThumbnailState {
  /** On-demand generations in flight, by media, size, method and `animated`. */
  readonly flights: SingleFlight<ThumbnailBody>;
  /** Sources the thumbnailer refused as unsupported, by sha256: never read for it again. */
  readonly refusedSources: LRUCache<string, MediaError>;
  /** Source dimensions learnt from thumbnails bounded by their source, by sha256. */
  readonly sourceSizes: LRUCache<string, Dimensions>;
  /** Sources in memory for thumbnailing, shared between sizes, within `maxThumbnailSourceMemoryBytes`. */
  readonly sources: SharedBlobs;
  /** Dynamic sizes being generated, by `origin/mediaId`: they count before they are stored. */
  readonly dynamicInFlight: Map<string, number>;
}

/** @internal */
export function createThumbnailState(limits: Readonly<RepositoryLimits>): ThumbnailState {
  return {
    flights: createSingleFlight<ThumbnailBody>(),
    refusedSources: new LRUCache({ max: REMEMBERED_SOURCES }),
    sourceSizes: new LRUCache({ max: REMEMBERED_SOURCES }),
    sources: new SharedBlobs(limits.maxThumbnailSourceMemoryBytes),
    dynamicInFlight: new Map(),
  };
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

async function serveStored(
  ctx: RepositoryContext,
  record: MediaRecord,
  best: ThumbnailRecord | undefined,
): Promise<ThumbnailBody | undefined> {
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

function tooLargeToThumbnail(
  ctx: RepositoryContext,
  thumbnailer: ThumbnailerLike,
  record: MediaRecord,
): boolean {
  const own = thumbnailer.maxSourceBytesFor
    ? thumbnailer.maxSourceBytesFor(record.contentType)
    : thumbnailer.maxSourceBytes;
  const max = Math.min(ctx.limits.maxThumbnailSourceBytes, own ?? Infinity);
  return record.size > max;
}

/** Refuses, without reading it, a source too large or already refused by the thumbnailer. */
function checkSource(ctx: RepositoryContext, thumbnailer: ThumbnailerLike, record: MediaRecord) {
  if (tooLargeToThumbnail(ctx, thumbnailer, record)) {
    // The spec's answer for "local content is too large for the server to thumbnail".
    throw new MediaError("M_TOO_LARGE", "The media is too large to thumbnail", { status: 413 });
  }
  const refusal = ctx.thumbnails.refusedSources.get(record.sha256);
  if (refusal) throw refusal;
}

const mediaKey = (record: MediaRecord): string => `${record.origin}/${record.mediaId}`;

/**
 * A thumbnail of `record` for the request: a stored one at least as large as asked (unless
 * the source is smaller), else the size chosen by the policy, stored or generated now, once
 * for concurrent requests of the same size. @internal
 */
export async function thumbnailFor(
  ctx: RepositoryContext,
  record: MediaRecord,
  want: WantedThumbnail,
): Promise<ThumbnailBody> {
  const { thumbnailer } = ctx;
  if (!thumbnailer) throw new MediaError("M_NOT_FOUND", "Thumbnails are not enabled");
  const existing = await ctx.metadata.getThumbnails(record.origin, record.mediaId);
  const source = ctx.thumbnails.sourceSizes.get(record.sha256);
  const stored = await serveStored(ctx, record, pickStored(existing, want, source));
  if (stored) return stored;
  const room = dynamicRoom(
    ctx.limits.maxDynamicThumbnailsPerMedia,
    existing,
    thumbnailer.sizes ?? [],
    ctx.thumbnails.dynamicInFlight.get(mediaKey(record)) ?? 0,
  );
  const target = chooseTarget(thumbnailer, want, existing, source, room);
  const job = { size: target.size, animated: want.animated };
  if (!target.dynamic) {
    if (!sameSize(target.size, want.size)) {
      const snapped = await serveStored(ctx, record, pickStored(existing, job, source));
      if (snapped) return snapped;
    }
    checkSource(ctx, thumbnailer, record);
    return generateOnce(ctx, thumbnailer, record, job, false);
  }
  // No await between the room check and generateOnce's count of this generation.
  checkSource(ctx, thumbnailer, record);
  return generateOnce(ctx, thumbnailer, record, job, true);
}

function generateOnce(
  ctx: RepositoryContext,
  thumbnailer: ThumbnailerLike,
  record: MediaRecord,
  job: WantedThumbnail,
  dynamic: boolean,
): Promise<ThumbnailBody> {
  const { flights, dynamicInFlight } = ctx.thumbnails;
  const { width, height, method } = job.size;
  const key = `${mediaKey(record)}/${width}x${height}/${method}/${job.animated}`;
  const joined = flights.get(key);
  if (joined) return joined;
  if (!dynamic) return flights.run(key, () => generateOnDemand(ctx, thumbnailer, record, job));
  const media = mediaKey(record);
  dynamicInFlight.set(media, (dynamicInFlight.get(media) ?? 0) + 1);
  return flights.run(key, async () => {
    try {
      return await generateOnDemand(ctx, thumbnailer, record, job);
    } finally {
      const left = (dynamicInFlight.get(media) ?? 1) - 1;
      if (left > 0) dynamicInFlight.set(media, left);
      else dynamicInFlight.delete(media);
    }
  });
}

/**
 * Runs `use` with the source of `record`: a loader the thumbnailer calls once it admits the
 * job when it accepts one, else the bytes read first. The claim is taken before the job
 * waits, so that sizes of the same media queued behind each other share one load.
 */
async function withSource<T>(
  ctx: RepositoryContext,
  thumbnailer: ThumbnailerLike,
  record: MediaRecord,
  use: (source: Buffer | (() => Promise<Buffer>)) => Promise<T>,
): Promise<T> {
  const claim = ctx.thumbnails.sources.claim(record);
  const load = (): Promise<Buffer> => claim.load(() => loadWhole(ctx, record));
  try {
    return await use(thumbnailer.acceptsSourceLoader === true ? load : await load());
  } finally {
    claim.release();
  }
}

async function generateOnDemand(
  ctx: RepositoryContext,
  thumbnailer: ThumbnailerLike,
  record: MediaRecord,
  job: WantedThumbnail,
): Promise<ThumbnailBody> {
  try {
    const result = await withSource(ctx, thumbnailer, record, (source) =>
      thumbnailer.generate(source, { ...job.size, animated: job.animated }),
    );
    return await keepGenerated(ctx, record, job, result);
  } catch (error) {
    // Bytes the thumbnailer cannot read are not read from the datastore again.
    if (MediaError.is(error) && error.errcode === "M_UNSUPPORTED") {
      ctx.thumbnails.refusedSources.set(record.sha256, error);
    }
    throw error;
  }
}

/** Stores a generated thumbnail and caches it when small. */
async function keepGenerated(
  ctx: RepositoryContext,
  record: MediaRecord,
  job: WantedThumbnail,
  result: ThumbnailResult,
): Promise<ThumbnailBody> {
  if (result.width < job.size.width && result.height < job.size.height) {
    // Smaller than asked in both dimensions: the source bounded it.
    ctx.thumbnails.sourceSizes.set(record.sha256, { width: result.width, height: result.height });
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

/** Pre-generates the thumbnailer's configured sizes of a fresh image or video in the background. @internal */
export function scheduleThumbnails(
  ctx: RepositoryContext,
  record: MediaRecord,
  sniffed: string | undefined,
): void {
  const { thumbnailer } = ctx;
  if (!thumbnailer?.generateAll) return;
  const type = sniffed ?? record.contentType;
  if (!thumbnailedAtUpload(type) || tooLargeToThumbnail(ctx, thumbnailer, record)) return;
  const generateAll = thumbnailer.generateAll.bind(thumbnailer);
  ctx.background.track(
    (async () => {
      const results = await withSource(ctx, thumbnailer, record, (source) =>
        generateAll(source, { animated: false }),
      );
      for (const result of results) await storeThumbnail(ctx, record, result);
    })().catch((error: unknown) => {
      ctx.logger?.debug?.("no pre-generated thumbnails", { error, mediaId: record.mediaId });
    }),
  );
}
