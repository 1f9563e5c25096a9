// The operator's side of the repository: media info, protection, paged listings, statistics
// and bulk deletes. Bulk deletes go record by record through deleteMedia (the record first,
// then its blobs once nothing references their hash), in pages, so a process that stops
// mid-way leaves no record without its blob; a blob orphaned by a stop between the two steps
// is what the orphan GC collects. Running the same request again continues where it stopped.
import type { ExpiredCursor } from "../metadata/admin.js";
import type { MxcUri } from "../mxc.js";
import { checkIds, notFound, type RepositoryContext } from "./context.js";
import { deleteMedia } from "./maintenance.js";
import type { BulkDeleteResult, ExpireLocalMediaOptions, MediaAdmin } from "./admin-types.js";

/** Records fetched per page of a bulk delete. */
const DELETE_PAGE = 100;

/** Deletes each record in turn, stopping before the next one once `signal` fires. */
async function deleteEach(
  ctx: RepositoryContext,
  mxcs: Iterable<MxcUri>,
  signal: AbortSignal | undefined,
  deleted: MxcUri[],
): Promise<void> {
  for (const mxc of mxcs) {
    signal?.throwIfAborted();
    if (await deleteMedia(ctx, mxc.origin, mxc.mediaId)) deleted.push(mxc);
  }
}

async function expireLocal(
  ctx: RepositoryContext,
  options: ExpireLocalMediaOptions,
): Promise<BulkDeleteResult> {
  const deleted: MxcUri[] = [];
  let after: ExpiredCursor | undefined;
  for (;;) {
    const page = await ctx.metadata.listExpiredLocalMedia({
      before: options.before,
      sizeGt: options.sizeGt ?? 0,
      limit: DELETE_PAGE,
      after,
    });
    if (page.length === 0) break;
    const last = page.at(-1)!;
    after = { lastAccessAt: last.lastAccessAt, origin: last.origin, mediaId: last.mediaId };
    const candidates = page.map((r) => ({ origin: r.origin, mediaId: r.mediaId }));
    const keep = options.keep ? await options.keep(candidates) : [];
    const kept = new Set(keep.map((m) => `${m.origin}/${m.mediaId}`));
    await deleteEach(
      ctx,
      candidates.filter((m) => !kept.has(`${m.origin}/${m.mediaId}`)),
      options.signal,
      deleted,
    );
    if (page.length < DELETE_PAGE) break;
  }
  return { deleted };
}

/** @internal The {@link MediaAdmin} of a repository. */
export function createMediaAdmin(ctx: RepositoryContext): MediaAdmin {
  return {
    async info(origin, mediaId) {
      checkIds(origin, mediaId);
      const record = await ctx.metadata.getMedia(origin, mediaId);
      if (!record) throw notFound();
      return record;
    },
    async setProtected(origin, mediaId, value) {
      checkIds(origin, mediaId);
      if (!(await ctx.metadata.setProtected(origin, mediaId, value))) throw notFound();
    },
    listByUploader: (uploader, query) => ctx.metadata.pageMediaByUploader(uploader, query),
    statistics: (query) => ctx.metadata.getUserMediaStatistics(query),
    async deleteMany(mxcs, options = {}) {
      const deleted: MxcUri[] = [];
      await deleteEach(ctx, mxcs, options.signal, deleted);
      return { deleted };
    },
    expireLocal: (options) => expireLocal(ctx, options),
    async *uploads(uploader) {
      let cursor: string | undefined;
      do {
        const page = await ctx.metadata.listMediaByUploader(uploader, {
          limit: DELETE_PAGE,
          ...(cursor === undefined ? {} : { cursor }),
        });
        yield* page.items;
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    },
  };
}
