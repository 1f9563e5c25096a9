// Downloads: metadata first (quarantine wins over every cache), then the cache for small
// media, then the datastore (or a redirect to it).
import { MediaError } from "../errors.js";
import type { MediaRecord } from "../metadata/types.js";
import { loadCached } from "./blobs.js";
import { checkIds, notFound, type RepositoryContext } from "./context.js";
import { touch } from "./maintenance.js";
import { waitForUpload } from "./pending.js";
import { fetchRemote } from "./remote.js";
import type { LookupOptions, MediaBody, ReadOptions } from "./types.js";

/**
 * The record of servable media: stored, else a pending local upload waited for, else remote
 * media fetched. @internal
 */
export async function lookup(
  ctx: RepositoryContext,
  origin: string,
  mediaId: string,
  opts: LookupOptions = {},
): Promise<MediaRecord> {
  checkIds(origin, mediaId);
  const record =
    (await ctx.metadata.getMedia(origin, mediaId)) ??
    (ctx.localNames.has(origin)
      ? await waitForUpload(ctx, origin, mediaId, opts)
      : await fetchRemote(ctx, origin, mediaId, opts));
  if (record.quarantined) throw notFound();
  touch(ctx, record);
  return record;
}

function sliceRange(buffer: Buffer, range: NonNullable<ReadOptions["range"]>): MediaBody {
  const end = Math.min(range.end ?? buffer.length - 1, buffer.length - 1);
  if (range.start > end) {
    throw new MediaError("M_INVALID_PARAM", "Range not satisfiable", { status: 416 });
  }
  return {
    size: buffer.length,
    range: { start: range.start, end },
    buffer: buffer.subarray(range.start, end + 1),
  };
}

/** The bytes of a record found by {@link lookup}. @internal */
export async function read(
  ctx: RepositoryContext,
  record: MediaRecord,
  opts: ReadOptions = {},
): Promise<MediaBody> {
  const datastore = ctx.datastores.byId(record.datastoreId);
  if (opts.allowRedirect && datastore.capabilities.url && datastore.url) {
    const url = await datastore.url(record.location);
    if (url) return { size: record.size, redirect: url };
  }
  const { range } = opts;
  if (ctx.cache && record.size <= ctx.limits.maxCachedBytes) {
    const buffer = await loadCached(ctx, record);
    return range ? sliceRange(buffer, range) : { size: buffer.length, buffer };
  }
  const got = await datastore.get(record.location, {
    ...(range ? { range } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { size: got.size, stream: got.stream, ...(got.range ? { range: got.range } : {}) };
}
