// Asynchronous uploads (`POST /create`, then `PUT /upload/{server}/{id}`) and the downloads
// that wait for them: woken through the coordinator (in every process when it is shared),
// and polling metadata every `limits.pendingPollMs` for a wake-up that was lost.
import { MediaError } from "../errors.js";
import type { MediaRecord } from "../metadata/types.js";
import { formatMxc } from "../mxc.js";
import { checkIds, localOrigin, notFound, type RepositoryContext } from "./context.js";
import { finishUpload, ingest, uploadTarget } from "./ingest.js";
import type { LookupOptions, UploadOptions, UploadResult } from "./types.js";

/** Reserves a media ID for an asynchronous upload. @internal */
export async function createPending(
  ctx: RepositoryContext,
  uploader: string,
  opts: { origin?: string; maxPendingPerUser?: number } = {},
): Promise<{ mxc: string; expiresAt: number }> {
  const origin = localOrigin(ctx, opts.origin);
  const mediaId = ctx.ids.next();
  const createdAt = ctx.now();
  const expiresAt = createdAt + ctx.limits.pendingExpiryMs;
  await ctx.metadata.createPending(
    { origin, mediaId, creator: uploader, createdAt, expiresAt },
    { maxPendingPerUser: opts.maxPendingPerUser ?? ctx.limits.maxPendingPerUser },
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

/** The coordinator's topic a completed asynchronous upload is announced on. @internal */
export function pendingTopic(origin: string, mediaId: string): string {
  return `pending:${origin}/${mediaId}`;
}

/** Fills a pending ID and wakes the downloads waiting for it (in every process when shared). @internal */
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
  // Never throws; a lost wake-up is covered by the waiters' poll.
  await ctx.coordinator.notify(pendingTopic(origin, mediaId));
  return result;
}

/** One round of waiting: ends on a wake-up, after `ms`, or when `signal` aborts. */
interface WaitRound {
  woken: Promise<void>;
  cancel(): void;
}

function subscribe(
  ctx: RepositoryContext,
  topic: string,
  ms: number,
  signal: AbortSignal | undefined,
): WaitRound {
  const stop = new AbortController();
  const cancel = (): void => stop.abort();
  signal?.addEventListener("abort", cancel, { once: true });
  const woken = ctx.coordinator
    .wait(topic, ms, stop.signal)
    .catch(() => undefined)
    .finally(() => signal?.removeEventListener("abort", cancel));
  return { woken, cancel };
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
  const topic = pendingTopic(origin, mediaId);
  const next = (): WaitRound =>
    subscribe(
      ctx,
      topic,
      Math.min(Math.max(0, deadline - ctx.monotonicNow()), limits.pendingPollMs),
      opts.signal,
    );
  // Each round subscribes before it reads, so a completion between the read and the wait
  // still wakes it; a wake-up is only a hint to read again.
  let round = next();
  try {
    for (;;) {
      const record = await ctx.metadata.getMedia(origin, mediaId);
      if (record) return record;
      if (deadline - ctx.monotonicNow() <= 0 || opts.signal?.aborted) {
        throw new MediaError("M_NOT_YET_UPLOADED", "The media has not been uploaded yet");
      }
      await round.woken;
      round.cancel();
      round = next();
    }
  } finally {
    round.cancel();
  }
}
