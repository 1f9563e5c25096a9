// Keeping the stores tidy: batched last-access times, the sweep of expired pending uploads
// and preview rows, quarantine, deletion and the purge of old remote media.
import { channel } from "node:diagnostics_channel";
import type { MediaRecord, QuarantineTarget } from "../metadata/types.js";
import { purgeCaches } from "./blobs.js";
import { checkIds, notFound, type RepositoryContext } from "./context.js";
import { deleteBlobIfUnused } from "./ingest.js";
import { forgetRemote } from "./remote.js";

const quarantineChannel = channel("matrix-media-kit:repository:quarantine");

/** Remote records deleted per metadata page by {@link purgeRemote}. */
const PURGE_PAGE = 100;

/** Records a last access, written with the next batch. @internal */
export function touch(ctx: RepositoryContext, record: MediaRecord): void {
  ctx.touches.set(`${record.origin}/${record.mediaId}`, {
    origin: record.origin,
    mediaId: record.mediaId,
    at: ctx.now(),
  });
}

/** Writes the batched last-access times; a failure is logged and the batch dropped. @internal */
export async function flushTouches(ctx: RepositoryContext): Promise<void> {
  if (ctx.touches.size === 0) return;
  const batch = [...ctx.touches.values()];
  ctx.touches.clear();
  try {
    await ctx.metadata.touchMedia(batch);
  } catch (error) {
    ctx.logger?.warn("could not record last-access times", { error, count: batch.length });
  }
}

/** Deletes expired pending uploads and preview cache rows, which would otherwise accumulate. @internal */
export async function sweepExpired(
  ctx: RepositoryContext,
): Promise<{ pending: number; previews: number }> {
  const at = ctx.now();
  const [pending, previews] = await Promise.all([
    ctx.metadata.deleteExpiredPending(at),
    ctx.metadata.deleteExpiredPreviews(at),
  ]);
  return { pending, previews };
}

/** Starts the touch-flush and sweep timers (unref'd); returns what stops them. @internal */
export function startMaintenance(ctx: RepositoryContext): () => void {
  const { limits, background, logger } = ctx;
  const timers: NodeJS.Timeout[] = [];
  if (limits.touchIntervalMs > 0) {
    timers.push(setInterval(() => background.track(flushTouches(ctx)), limits.touchIntervalMs));
  }
  if (limits.sweepIntervalMs > 0) {
    const sweep = (): Promise<void> =>
      sweepExpired(ctx).then(
        () => undefined,
        (error: unknown) => logger?.warn("could not sweep expired metadata", { error }),
      );
    timers.push(setInterval(() => background.track(sweep()), limits.sweepIntervalMs));
  }
  for (const timer of timers) timer.unref();
  return () => {
    for (const timer of timers) clearInterval(timer);
  };
}

/**
 * Quarantines (or releases) media; quarantining empties every cache tier of it and its
 * thumbnails. A single `mxc` that is not stored is `M_NOT_FOUND` (an admin typo must not look
 * like success). @internal
 */
export async function quarantine(
  ctx: RepositoryContext,
  target: QuarantineTarget,
  value = true,
): Promise<{ affected: number }> {
  if ("mxc" in target) checkIds(target.mxc.origin, target.mxc.mediaId);
  const result = await ctx.metadata.quarantine(target, value);
  if (
    "mxc" in target &&
    result.affected.length === 0 &&
    !(await ctx.metadata.getMedia(target.mxc.origin, target.mxc.mediaId))
  ) {
    throw notFound();
  }
  if (value) {
    const shas = new Set<string>();
    for (const item of result.affected) {
      shas.add(item.sha256);
      for (const thumb of await ctx.metadata.getThumbnails(item.origin, item.mediaId)) {
        shas.add(thumb.sha256);
      }
    }
    await purgeCaches(ctx, shas);
  }
  if (quarantineChannel.hasSubscribers) {
    quarantineChannel.publish({ target, value, affected: result.affected });
  }
  return { affected: result.affected.length };
}

/** Deletes media, its thumbnails and, when nothing else uses them, their blobs. @internal */
export async function deleteMedia(
  ctx: RepositoryContext,
  origin: string,
  mediaId: string,
): Promise<boolean> {
  checkIds(origin, mediaId);
  const deleted = await ctx.metadata.deleteMedia(origin, mediaId);
  forgetRemote(ctx, origin, mediaId);
  if (!deleted) return false;
  const { media, thumbnails } = deleted;
  await purgeCaches(ctx, [media.sha256, ...thumbnails.map((t) => t.sha256)]);
  const stillUsed = await ctx.metadata.getMediaBySha256(media.sha256);
  if (stillUsed.length === 0) {
    const { datastores } = ctx;
    await deleteBlobIfUnused(ctx, datastores.byId(media.datastoreId), media.location, media.sha256);
    // Thumbnail bytes are derived from the source bytes, so media sharing the source
    // shares them too; a thumbnail blob that vanishes anyway is regenerated on demand.
    for (const thumb of thumbnails) {
      await deleteBlobIfUnused(
        ctx,
        datastores.byId(thumb.datastoreId),
        thumb.location,
        thumb.sha256,
      );
    }
  }
  return true;
}

/** Deletes remote media not accessed since `before` (ms since the epoch). @internal */
export async function purgeRemote(
  ctx: RepositoryContext,
  before: number,
): Promise<{ deleted: number }> {
  let deleted = 0;
  for (;;) {
    const batch = await ctx.metadata.listRemoteMediaAccessedBefore(before, { limit: PURGE_PAGE });
    if (batch.length === 0) break;
    let progress = 0;
    for (const record of batch) {
      if (await deleteMedia(ctx, record.origin, record.mediaId)) progress++;
    }
    deleted += progress;
    if (batch.length < PURGE_PAGE || progress === 0) break;
  }
  return { deleted };
}
