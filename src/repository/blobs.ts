// Reading blobs back (whole, or through the cache) and dropping them from the cache.
import type { Readable } from "node:stream";
import type { MediaRecord, ThumbnailRecord } from "../metadata/types.js";
import type { RepositoryContext } from "./context.js";

/**
 * The cache key of a blob (media or thumbnail bytes), by its SHA-256.
 *
 * @example
 * ```ts
 * const cached = await cache.get(blobCacheKey(record.sha256));
 * ```
 */
export function blobCacheKey(sha256: string): string {
  return `blob:${sha256}`;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The whole blob a record points at, from its datastore. @internal */
export async function loadWhole(
  ctx: RepositoryContext,
  record: { datastoreId: string; location: string },
): Promise<Buffer> {
  const { stream } = await ctx.datastores.byId(record.datastoreId).get(record.location);
  return collect(stream);
}

/** The whole blob, through the cache when it is small enough to be cached (filled on read). @internal */
export async function loadCached(
  ctx: RepositoryContext,
  record: MediaRecord | ThumbnailRecord,
): Promise<Buffer> {
  const { cache } = ctx;
  if (!cache || record.size > ctx.limits.maxCachedBytes) return loadWhole(ctx, record);
  const buffer = await cache.getOrLoad(blobCacheKey(record.sha256), () => loadWhole(ctx, record));
  return buffer ?? loadWhole(ctx, record);
}

/** Deletes blobs from every cache tier. @internal */
export async function purgeCaches(ctx: RepositoryContext, shas: Iterable<string>): Promise<void> {
  const { cache } = ctx;
  if (!cache) return;
  await Promise.all([...new Set(shas)].map((sha) => cache.delete(blobCacheKey(sha))));
}
