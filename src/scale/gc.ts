// Job bodies: orphan blob collection, remote media retention and the expiry sweep, over the
// public parts of a repository (its metadata store, datastores and methods).
import type { Datastore } from "../datastore/types.js";
import type { MetadataStore } from "../metadata/types.js";
import type { MediaRepository } from "../repository/types.js";
import type { ScaleLogger } from "./leader.js";

/** Options of {@link collectOrphanBlobs}. */
export interface CollectOrphanBlobsOptions {
  /** The datastore to clean; needs `list()` and must be writable. */
  datastore: Datastore;
  /** The metadata store every process of the deployment writes to. */
  metadata: MetadataStore;
  /**
   * Blobs written less than this long ago are kept, whatever metadata says: an upload stores
   * its blob before it inserts its record. @defaultValue 3600000 (1 h)
   */
  graceMs?: number;
  /** Wall clock, ms since the epoch. @defaultValue `Date.now` */
  now?: () => number;
  /** Stops the walk between blobs. */
  signal?: AbortSignal;
  /** Another reference to consult (e.g. thumbnail records); a blob it claims is kept. */
  isReferenced?: (key: string, datastore: Datastore) => Promise<boolean>;
  logger?: ScaleLogger;
}

/** What {@link collectOrphanBlobs} did. */
export interface OrphanBlobCounts {
  scanned: number;
  deleted: number;
  /** Younger than the grace period, or of unknown age. */
  young: number;
  referenced: number;
  [count: string]: number;
}

/** Default grace period of {@link collectOrphanBlobs}: 1 hour. */
export const DEFAULT_ORPHAN_GRACE_MS = 60 * 60 * 1000;

/**
 * Deletes blobs of `datastore` that no media record references and that are older than
 * `graceMs`. References are looked up (by the blob's key, its SHA-256) right before each
 * delete, never from a snapshot taken at the start of the walk. A blob whose age the store
 * does not report is kept.
 *
 * Thumbnail records cannot be looked up by hash in a `MetadataStore`: run it on datastores
 * that hold no thumbnails, or pass `isReferenced`. A collected thumbnail is regenerated on
 * its next request.
 *
 * @example
 * ```ts
 * import { collectOrphanBlobs } from "matrix-media-kit/scale";
 * const { deleted } = await collectOrphanBlobs({ datastore, metadata, graceMs: 3_600_000 });
 * ```
 */
export async function collectOrphanBlobs(
  options: CollectOrphanBlobsOptions,
): Promise<OrphanBlobCounts> {
  const { datastore, metadata, signal } = options;
  const graceMs = options.graceMs ?? DEFAULT_ORPHAN_GRACE_MS;
  const now = options.now ?? Date.now;
  const counts: OrphanBlobCounts = { scanned: 0, deleted: 0, young: 0, referenced: 0 };
  if (!datastore.list || datastore.capabilities.readOnly) return counts;
  for await (const entry of datastore.list(signal ? { signal } : {})) {
    signal?.throwIfAborted();
    counts.scanned++;
    const written = entry.lastModified?.getTime();
    if (written === undefined || now() - written < graceMs) {
      counts.young++;
      continue;
    }
    const records = await metadata.getMediaBySha256(entry.key);
    const used =
      records.some((r) => r.datastoreId === datastore.id && r.location === entry.key) ||
      (await options.isReferenced?.(entry.key, datastore)) === true;
    if (used) {
      counts.referenced++;
      continue;
    }
    signal?.throwIfAborted();
    await datastore.delete(entry.key);
    counts.deleted++;
    options.logger?.info?.("deleted an orphan blob", { datastore: datastore.id, key: entry.key });
  }
  return counts;
}

/** Options of {@link purgeRemoteMedia}. */
export interface PurgeRemoteMediaOptions {
  repository: Pick<MediaRepository, "purgeRemote">;
  /** Remote media not accessed for this long is deleted (protected media is kept). */
  maxAgeMs: number;
  /** @defaultValue `Date.now` */
  now?: () => number;
}

/**
 * Remote media retention by last access: deletes copies of remote media (and their
 * thumbnails) not downloaded for `maxAgeMs`; protected media is kept. They are fetched
 * again when asked for.
 *
 * @example
 * ```ts
 * import { purgeRemoteMedia } from "matrix-media-kit/scale";
 * await purgeRemoteMedia({ repository, maxAgeMs: 30 * 24 * 3_600_000 });
 * ```
 */
export async function purgeRemoteMedia(
  options: PurgeRemoteMediaOptions,
): Promise<{ deleted: number }> {
  const now = options.now ?? Date.now;
  return options.repository.purgeRemote(now() - options.maxAgeMs);
}
