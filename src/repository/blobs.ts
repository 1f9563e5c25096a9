// Reading blobs back (whole, through the cache, or shared under a byte budget) and dropping
// them from the cache.
import type { Readable } from "node:stream";
import { MediaError } from "../errors.js";
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

/** How long a client refused by the source budget is told to wait: about one job's time. */
const SOURCE_BUDGET_RETRY_MS = 1000;

interface SharedBlob {
  /** Claims not yet released: jobs using the bytes, and jobs waiting to. */
  holders: number;
  readonly bytes: number;
  /** Set by the first claim that loads; cleared if that load fails. */
  buffer: Promise<Buffer> | undefined;
}

/**
 * One job's claim on a shared blob. `load` reads the bytes (or joins the read already made);
 * `release` gives the claim back, and must be called once the job settles, loaded or not.
 * @internal
 */
export interface BlobClaim {
  load(read: () => Promise<Buffer>): Promise<Buffer>;
  release(): void;
}

/**
 * Whole blobs held in memory for processing (thumbnail sources), at most `maxBytes` loaded
 * in total. A job claims a blob before it waits for a processing slot, and loads it only once
 * admitted: jobs for the same bytes (by sha256) share one load, which stays in memory while
 * any claim on it is held (so queued sizes of the same media reuse it) and is dropped with
 * the last claim. A load that would take the total past the budget is refused with
 * `503 M_LIMIT_EXCEEDED` and a retry time, before anything is read. Unlike a single flight,
 * an entry outlives its load: it lasts as long as someone may use the buffer.
 * @internal
 */
export class SharedBlobs {
  readonly #blobs = new Map<string, SharedBlob>();
  readonly #maxBytes: number;
  #loadedBytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes of the blobs loaded or being loaded now. */
  get loadedBytes(): number {
    return this.#loadedBytes;
  }

  claim(blob: { sha256: string; size: number }): BlobClaim {
    const key = blob.sha256;
    let shared = this.#blobs.get(key);
    if (!shared) {
      shared = { holders: 0, bytes: blob.size, buffer: undefined };
      this.#blobs.set(key, shared);
    }
    const entry = shared;
    entry.holders++;
    let released = false;
    return {
      load: (read) => {
        if (released) throw new Error("SharedBlobs: load() after release()");
        return entry.buffer ?? this.#startLoad(entry, read);
      },
      release: () => {
        if (released) return;
        released = true;
        if (--entry.holders > 0) return;
        this.#blobs.delete(key);
        if (entry.buffer) this.#loadedBytes -= entry.bytes;
      },
    };
  }

  #startLoad(entry: SharedBlob, read: () => Promise<Buffer>): Promise<Buffer> {
    if (this.#loadedBytes + entry.bytes > this.#maxBytes) {
      return Promise.reject(
        new MediaError(
          "M_LIMIT_EXCEEDED",
          "Too many thumbnail sources are in memory (limits.maxThumbnailSourceMemoryBytes); retry later",
          { status: 503, retryAfterMs: SOURCE_BUDGET_RETRY_MS },
        ),
      );
    }
    const buffer = read();
    entry.buffer = buffer;
    this.#loadedBytes += entry.bytes;
    // A failed load is not handed to later claims; the claims waiting on it see the failure.
    buffer.catch(() => {
      if (entry.buffer !== buffer) return;
      entry.buffer = undefined;
      if (entry.holders > 0) this.#loadedBytes -= entry.bytes;
    });
    return buffer;
  }
}
