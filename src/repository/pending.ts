// Asynchronous uploads (`POST /create`, then `PUT /upload/{server}/{id}`) and the downloads
// that wait for them: woken in-process at once, and polling metadata for completions made
// by other processes.
import { MediaError } from "../errors.js";
import type { MediaRecord } from "../metadata/types.js";
import { formatMxc } from "../mxc.js";
import { checkIds, localOrigin, notFound, type RepositoryContext } from "./context.js";
import { finishUpload, ingest, uploadTarget } from "./ingest.js";
import type { LookupOptions, UploadOptions, UploadResult } from "./types.js";

/** How often a waiter for a pending upload re-reads metadata (completion in another process). */
const PENDING_POLL_MS = 500;

/** Reserves a media ID for an asynchronous upload. @internal */
export async function createPending(
  ctx: RepositoryContext,
  uploader: string,
  opts: { origin?: string } = {},
): Promise<{ mxc: string; expiresAt: number }> {
  const origin = localOrigin(ctx, opts.origin);
  const mediaId = ctx.ids.next();
  const createdAt = ctx.now();
  const expiresAt = createdAt + ctx.limits.pendingExpiryMs;
  await ctx.metadata.createPending(
    { origin, mediaId, creator: uploader, createdAt, expiresAt },
    { maxPendingPerUser: ctx.limits.maxPendingPerUser },
  );
  return { mxc: formatMxc({ origin, mediaId }), expiresAt };
}

/** Throws unless `uploader` may fill this pending ID now. @internal */
export async function checkPending(
  ctx: RepositoryContext,
  origin: string,
  mediaId: string,
  uploader: string,
): Promise<void> {
  checkIds(origin, mediaId);
  if (!ctx.localNames.has(origin)) throw notFound();
  const pending = await ctx.metadata.getPending(origin, mediaId);
  if (!pending || pending.expiresAt <= ctx.now()) {
    if (await ctx.metadata.getMedia(origin, mediaId)) {
      throw new MediaError("M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
    }
    throw notFound();
  }
  if (pending.creator !== uploader) {
    throw new MediaError("M_FORBIDDEN", "Only the creator of a media ID may upload to it");
  }
}

/** Fills a pending ID and wakes the downloads waiting for it in this process. @internal */
export async function uploadPending(
  ctx: RepositoryContext,
  origin: string,
  mediaId: string,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  opts: UploadOptions,
): Promise<UploadResult> {
  await checkPending(ctx, origin, mediaId, opts.uploader);
  const blob = await ingest(ctx, "local", source, { ...opts, maxBytes: ctx.limits.maxUploadBytes });
  const result = await finishUpload(ctx, blob, { ...uploadTarget(opts), origin, mediaId }, (r) =>
    ctx.metadata.completePending(r, ctx.now()),
  );
  wake(ctx, origin, mediaId);
  return result;
}

function wake(ctx: RepositoryContext, origin: string, mediaId: string): void {
  const key = `${origin}/${mediaId}`;
  const set = ctx.waiters.get(key);
  if (!set) return;
  ctx.waiters.delete(key);
  for (const fn of set) fn();
}

function waitForWake(
  ctx: RepositoryContext,
  key: string,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise((resolve) => {
    let set = ctx.waiters.get(key);
    if (!set) ctx.waiters.set(key, (set = new Set()));
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      set.delete(done);
      if (set.size === 0 && ctx.waiters.get(key) === set) ctx.waiters.delete(key);
      resolve();
    };
    const timer = setTimeout(done, ms);
    set.add(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * The record of media that has no record yet: waits (up to `timeoutMs`, clamped to
 * `limits.maxWaitMs`) when it is an unexpired pending ID, else `M_NOT_FOUND`. @internal
 */
export async function waitForUpload(
  ctx: RepositoryContext,
  origin: string,
  mediaId: string,
  opts: LookupOptions,
): Promise<MediaRecord> {
  const pending = ctx.localNames.has(origin)
    ? await ctx.metadata.getPending(origin, mediaId)
    : undefined;
  if (!pending || pending.expiresAt <= ctx.now()) throw notFound();
  const { limits } = ctx;
  const waitMs = Math.min(Math.max(0, opts.timeoutMs ?? limits.defaultWaitMs), limits.maxWaitMs);
  const deadline = ctx.monotonicNow() + waitMs;
  const key = `${origin}/${mediaId}`;
  for (;;) {
    const left = deadline - ctx.monotonicNow();
    if (left <= 0 || opts.signal?.aborted) {
      throw new MediaError("M_NOT_YET_UPLOADED", "The media has not been uploaded yet");
    }
    await waitForWake(ctx, key, Math.min(left, PENDING_POLL_MS), opts.signal);
    const record = await ctx.metadata.getMedia(origin, mediaId);
    if (record) return record;
  }
}
