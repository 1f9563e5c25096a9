// A bounded, read-through local copy of another datastore.
import { MediaError } from "../errors.js";
import { datastoreChannel } from "./internal.js";
import type {
  ByteRange,
  Datastore,
  DatastoreEntry,
  DatastoreGetResult,
  DatastorePutOptions,
  DatastorePutResult,
} from "./types.js";

/** Options of {@link cachedDatastore}. */
export interface CachedDatastoreOptions {
  /** The datastore of record (e.g. S3). */
  origin: Datastore;
  /** Where copies are kept (e.g. an `fsDatastore` on local disk); must list (`capabilities.list`) and be private to this cache. */
  local: Datastore;
  /** Bytes of copies kept; least recently used copies are deleted past it. */
  maxBytes: number;
  /** Blobs larger than this are streamed from the origin without a copy. @defaultValue `maxBytes` */
  maxBlobBytes?: number;
}

/** Counters of a {@link CachedDatastore}. */
export interface CachedDatastoreStats {
  /** Blobs held locally. */
  entries: number;
  /** Their bytes (<= maxBytes). */
  bytes: number;
  /** Reads served from the local copy. */
  hits: number;
  /** Reads that went to the origin. */
  misses: number;
  /** Copies deleted to stay under maxBytes. */
  evictions: number;
}

/** A {@link Datastore} reading through a local copy. */
export interface CachedDatastore extends Datastore {
  /** Loads the index of local copies (done automatically on first use). */
  ready(): Promise<void>;
  /** A snapshot of the cache's counters. */
  stats(): CachedDatastoreStats;
}

/**
 * A read-through local copy of `origin` (e.g. fs in front of S3) with LRU eviction by bytes.
 *
 * A read of a blob that is not held locally copies the whole blob from the origin into
 * `local` (one copy at a time per key, whatever the number of concurrent readers), then
 * serves it — ranges included — from there. Writes and deletes go to the origin (deletes
 * also drop the copy). The index is rebuilt from `local.list()` at start (oldest
 * `lastModified` first), so copies survive restarts and the bound holds across them.
 * Keys must be content-addressed the same way in both stores (the kit's drivers all use
 * the SHA-256), so a copy can never be confused with another blob. The `id` is the
 * origin's: metadata keeps pointing at the datastore of record.
 *
 * @example
 * ```ts
 * import { cachedDatastore, fsDatastore, s3Datastore } from "matrix-media-kit/datastore";
 * const store = cachedDatastore({
 *   origin: s3Datastore({ bucket: "media" }),
 *   local: fsDatastore({ id: "s3-cache", root: "/var/cache/media" }),
 *   maxBytes: 20 * 1024 ** 3,
 * });
 * ```
 */
export function cachedDatastore(options: CachedDatastoreOptions): CachedDatastore {
  const { origin, local } = options ?? {};
  if (!origin || typeof origin.get !== "function")
    throw new TypeError("Expected origin to be a Datastore");
  if (!local || typeof local.get !== "function" || !local.list || !local.capabilities.list) {
    throw new TypeError(
      "Expected local to be a Datastore that can list() (local.capabilities.list)",
    );
  }
  if (local.capabilities.readOnly)
    throw new TypeError(`Datastore "${local.id}" (local) is read-only`);
  const maxBytes = options.maxBytes;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new TypeError(
      `Expected maxBytes to be a positive integer but received ${String(maxBytes)}`,
    );
  }
  const maxBlobBytes = options.maxBlobBytes ?? maxBytes;
  if (!Number.isSafeInteger(maxBlobBytes) || maxBlobBytes < 0 || maxBlobBytes > maxBytes) {
    throw new TypeError(
      `Expected maxBlobBytes to be an integer 0–${maxBytes} (maxBytes) but received ${String(maxBlobBytes)}`,
    );
  }
  const listLocal = local.list.bind(local);
  // Map iteration order is the LRU order: oldest first.
  const index = new Map<string, number>();
  const fills = new Map<string, Promise<boolean>>();
  const stats: CachedDatastoreStats = { entries: 0, bytes: 0, hits: 0, misses: 0, evictions: 0 };
  let readyPromise: Promise<void> | undefined;

  function ready(): Promise<void> {
    readyPromise ??= (async () => {
      const entries: DatastoreEntry[] = [];
      for await (const e of listLocal()) entries.push(e);
      entries.sort((a, b) => (a.lastModified?.getTime() ?? 0) - (b.lastModified?.getTime() ?? 0));
      for (const e of entries) remember(e.key, e.size);
      await evict();
    })().catch((err: unknown) => {
      readyPromise = undefined;
      throw err;
    });
    return readyPromise;
  }

  function remember(key: string, size: number): void {
    const old = index.get(key);
    if (old !== undefined) stats.bytes -= old;
    index.delete(key);
    index.set(key, size);
    stats.bytes += size;
    stats.entries = index.size;
  }

  function forget(key: string): void {
    const old = index.get(key);
    if (old === undefined) return;
    index.delete(key);
    stats.bytes -= old;
    stats.entries = index.size;
  }

  async function evict(): Promise<void> {
    while (stats.bytes > maxBytes) {
      const oldest = index.keys().next();
      if (oldest.done) return;
      forget(oldest.value);
      stats.evictions++;
      await local.delete(oldest.value).catch(() => undefined);
      datastoreChannel.publish({ datastore: origin.id, op: "evict", key: oldest.value });
    }
  }

  /** Copies a blob into `local`; false when it is not cacheable. */
  function fill(key: string): Promise<boolean> {
    let pending = fills.get(key);
    if (!pending) {
      pending = (async () => {
        const size = (await origin.head(key))?.size;
        if (size === undefined || size > maxBlobBytes) return false;
        const { stream } = await origin.get(key);
        const stored = await local.put(stream as AsyncIterable<Uint8Array>, {
          maxBytes: maxBlobBytes,
        });
        if (stored.key !== key) {
          await local.delete(stored.key).catch(() => undefined);
          return false;
        }
        remember(key, stored.size);
        await evict();
        return index.has(key);
      })().finally(() => fills.delete(key));
      fills.set(key, pending);
    }
    return pending;
  }

  async function get(
    key: string,
    getOptions: { range?: ByteRange; signal?: AbortSignal } = {},
  ): Promise<DatastoreGetResult> {
    await ready();
    if (index.has(key)) {
      try {
        const result = await local.get(key, getOptions);
        remember(key, index.get(key)!);
        stats.hits++;
        return result;
      } catch (err) {
        if (!(MediaError.is(err) && err.errcode === "M_NOT_FOUND")) throw err;
        forget(key);
      }
    }
    stats.misses++;
    if (await fill(key)) {
      try {
        return await local.get(key, getOptions);
      } catch (err) {
        if (!(MediaError.is(err) && err.errcode === "M_NOT_FOUND")) throw err;
        // Evicted meanwhile: serve from the origin.
      }
    }
    return origin.get(key, getOptions);
  }

  const store: CachedDatastore = {
    id: origin.id,
    capabilities: { ...origin.capabilities },
    ready,
    stats: () => ({ ...stats }),
    put: (
      source: AsyncIterable<Uint8Array> | Uint8Array,
      putOptions?: DatastorePutOptions,
    ): Promise<DatastorePutResult> => origin.put(source, putOptions),
    get,
    head: async (key) => {
      await ready();
      const size = index.get(key);
      return size === undefined ? origin.head(key) : { size };
    },
    delete: async (key) => {
      await origin.delete(key);
      await ready();
      forget(key);
      await local.delete(key);
    },
    dispose: async () => {
      await Promise.all([origin.dispose?.(), local.dispose?.()]);
    },
  };
  if (origin.list) {
    const listOrigin = origin.list.bind(origin);
    store.list = (listOptions) => listOrigin(listOptions);
  }
  if (origin.url) {
    const urlOrigin = origin.url.bind(origin);
    store.url = (key, urlOptions) => urlOrigin(key, urlOptions);
  }
  return store;
}
