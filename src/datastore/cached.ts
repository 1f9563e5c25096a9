// A bounded, read-through local copy of another datastore.
import { ConfigError, MediaError } from "../errors.js";
import { createSingleFlight, type SingleFlight } from "../internal/single-flight.js";
import { CopyIndex } from "./cached-index.js";
import { datastoreChannel, describeOption } from "./internal.js";
import type { ByteRange, Datastore, DatastoreEntry, DatastoreGetResult } from "./types.js";

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
  /** Their bytes (at most maxBytes). */
  bytes: number;
  /** Reads served from the local copy. */
  hits: number;
  /** Reads that went to the origin. */
  misses: number;
  /** Copies deleted to stay under maxBytes. */
  evictions: number;
}

/** What {@link CachedDatastore.trim} did. */
export interface CachedDatastoreTrim {
  /** Local copies listed. */
  scanned: number;
  /** Copies found on disk that the index did not know (written by another process). */
  adopted: number;
  /** Indexed copies no longer on disk (deleted by another process). */
  forgotten: number;
  /** Copies deleted to get under `maxBytes`. */
  evicted: number;
  /** Copies over the bound still to delete (past `limit`): the next trim deletes them. */
  pending: number;
  /** Bytes held after the trim. */
  bytes: number;
  [count: string]: number;
}

/** A {@link Datastore} reading through a local copy. */
export interface CachedDatastore extends Datastore {
  /** Loads the index of local copies (done automatically on first use). */
  ready(): Promise<void>;
  /** A snapshot of the cache's counters. */
  stats(): CachedDatastoreStats;
  /**
   * Lists `local` again and brings the index and the directory back in line: copies another
   * process wrote into the directory are counted (as just used), copies it deleted
   * are forgotten, and copies past `maxBytes` are deleted (at most `limit` per call). Each
   * read that copies evicts inline already; this is the periodic check for what happens
   * behind the cache's back.
   */
  trim(options?: { limit?: number; signal?: AbortSignal }): Promise<CachedDatastoreTrim>;
}

interface CacheState {
  readonly origin: Datastore;
  readonly local: Datastore & Required<Pick<Datastore, "list">>;
  readonly maxBlobBytes: number;
  readonly index: CopyIndex;
  /** One copy from the origin at a time per key; resolves to whether the copy is held. */
  readonly fills: SingleFlight<boolean>;
  hits: number;
  misses: number;
  started: Promise<void> | undefined;
}

function invalid(option: string, expected: string, received: string): ConfigError {
  return new ConfigError(
    `cachedDatastore: expected options.${option} to be ${expected} but received ${received}`,
    { option },
  );
}

function createCacheState(options: CachedDatastoreOptions): CacheState {
  const { origin, local } = options ?? {};
  if (!origin || typeof origin.get !== "function")
    throw invalid("origin", "a Datastore", describeOption(origin));
  if (!local || typeof local.get !== "function" || !local.list || !local.capabilities.list) {
    throw invalid(
      "local",
      "a Datastore that can list() (local.capabilities.list)",
      describeOption(local),
    );
  }
  if (local.capabilities.readOnly)
    throw invalid("local", "a writable Datastore", `read-only datastore "${local.id}"`);
  const maxBytes = options.maxBytes;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw invalid("maxBytes", "a positive integer", String(maxBytes));
  const maxBlobBytes = options.maxBlobBytes ?? maxBytes;
  if (!Number.isSafeInteger(maxBlobBytes) || maxBlobBytes < 0 || maxBlobBytes > maxBytes) {
    throw invalid("maxBlobBytes", `an integer 0–${maxBytes} (maxBytes)`, String(maxBlobBytes));
  }
  return {
    origin,
    local: local as CacheState["local"],
    maxBlobBytes,
    index: new CopyIndex(maxBytes),
    fills: createSingleFlight<boolean>(),
    hits: 0,
    misses: 0,
    started: undefined,
  };
}

/** Loads the index from `local.list()`, oldest copy first; retried after a failure. */
function ready(state: CacheState): Promise<void> {
  state.started ??= (async () => {
    const entries: DatastoreEntry[] = [];
    for await (const e of state.local.list()) entries.push(e);
    entries.sort((a, b) => (a.lastModified?.getTime() ?? 0) - (b.lastModified?.getTime() ?? 0));
    for (const e of entries) state.index.remember(e.key, e.size);
    await deleteEvicted(state);
  })().catch((err: unknown) => {
    state.started = undefined;
    throw err;
  });
  return state.started;
}

async function deleteEvicted(state: CacheState, limit = Infinity): Promise<number> {
  const keys = state.index.takeEvicted(limit);
  for (const key of keys) {
    await state.local.delete(key).catch(() => undefined);
    datastoreChannel.publish({ datastore: state.origin.id, op: "evict", key });
  }
  return keys.length;
}

async function trim(
  state: CacheState,
  options: { limit?: number; signal?: AbortSignal } = {},
): Promise<CachedDatastoreTrim> {
  const { signal } = options;
  const limit = options.limit ?? Infinity;
  if (!(limit >= 1)) throw invalid("limit", "a positive integer", String(limit));
  await ready(state);
  const counts = { scanned: 0, adopted: 0, forgotten: 0, evicted: 0, pending: 0, bytes: 0 };
  const before = new Set(state.index.keys());
  const found = new Map<string, number>();
  for await (const entry of state.local.list(signal ? { signal } : {})) {
    counts.scanned++;
    found.set(entry.key, entry.size);
  }
  signal?.throwIfAborted();
  for (const key of before) {
    // A copy being filled now is remembered once written: only forget what was indexed before.
    if (!found.has(key) && state.index.has(key)) {
      state.index.forget(key);
      counts.forgotten++;
    }
  }
  for (const [key, size] of found) {
    if (state.index.has(key)) continue;
    state.index.remember(key, size);
    counts.adopted++;
  }
  counts.evicted = await deleteEvicted(state, limit);
  counts.pending = state.index.pendingEvictions;
  counts.bytes = state.index.bytes;
  return counts;
}

/** Copies a blob into `local`; false when it is not cacheable. */
function fill(state: CacheState, key: string): Promise<boolean> {
  return state.fills.run(key, async () => {
    const size = (await state.origin.head(key))?.size;
    if (size === undefined || size > state.maxBlobBytes) return false;
    const { stream } = await state.origin.get(key);
    const stored = await state.local.put(stream as AsyncIterable<Uint8Array>, {
      maxBytes: state.maxBlobBytes,
    });
    if (stored.key !== key) {
      await state.local.delete(stored.key).catch(() => undefined);
      return false;
    }
    state.index.remember(key, stored.size);
    await deleteEvicted(state);
    return state.index.has(key);
  });
}

function isNotFound(err: unknown): boolean {
  return MediaError.is(err) && err.errcode === "M_NOT_FOUND";
}

async function cachedGet(
  state: CacheState,
  key: string,
  options: { range?: ByteRange; signal?: AbortSignal } = {},
): Promise<DatastoreGetResult> {
  await ready(state);
  if (state.index.has(key)) {
    try {
      const result = await state.local.get(key, options);
      state.index.touch(key);
      state.hits++;
      return result;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      state.index.forget(key);
    }
  }
  state.misses++;
  if (await fill(state, key)) {
    try {
      return await state.local.get(key, options);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // Evicted meanwhile: serve from the origin.
    }
  }
  return state.origin.get(key, options);
}

async function cachedHead(state: CacheState, key: string): Promise<{ size: number } | undefined> {
  await ready(state);
  const size = state.index.peek(key);
  return size === undefined ? state.origin.head(key) : { size };
}

async function cachedDelete(state: CacheState, key: string): Promise<void> {
  await state.origin.delete(key);
  await ready(state);
  state.index.forget(key);
  await state.local.delete(key);
}

function statsOf(state: CacheState): CachedDatastoreStats {
  const { index } = state;
  return {
    entries: index.entries,
    bytes: index.bytes,
    hits: state.hits,
    misses: state.misses,
    evictions: index.evictions,
  };
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
 * origin's: metadata keeps pointing at the datastore of record. Invalid options throw a
 * `ConfigError` naming the option.
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
  const state = createCacheState(options);
  const { origin, local } = state;
  const store: CachedDatastore = {
    id: origin.id,
    capabilities: { ...origin.capabilities },
    ready: () => ready(state),
    stats: () => statsOf(state),
    trim: (trimOptions) => trim(state, trimOptions),
    put: (source, putOptions) => origin.put(source, putOptions),
    get: (key, getOptions) => cachedGet(state, key, getOptions),
    head: (key) => cachedHead(state, key),
    delete: (key) => cachedDelete(state, key),
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
