// Job bodies: orphan blob collection, remote media retention and the expiry sweep, over the
// public parts of a repository (its metadata store, datastores and methods).
import type { Datastore } from "../datastore/types.js";
import { ConfigError } from "../errors.js";
import type { MetadataStore } from "../metadata/types.js";
import type { MediaRepository } from "../repository/types.js";
import type { ScaleLogger } from "./leader.js";

/** Options of {@link collectOrphanBlobs}. */
export interface CollectOrphanBlobsOptions {
  /** The datastore to clean; needs `list()` and must be writable. */
  datastore: Datastore;
  /** The metadata store every process of the deployment writes to. */
  metadata: Pick<MetadataStore, "getMediaBySha256" | "getThumbnailsBySha256">;
  /**
   * Blobs written less than this long ago are kept, whatever metadata says: an upload stores
   * its blob before it inserts its record. @defaultValue 3600000 (1 h)
   */
  graceMs?: number;
  /** Wall clock, ms since the epoch. @defaultValue `Date.now` */
  now?: () => number;
  /** Stops the walk between blobs. */
  signal?: AbortSignal;
  /** Blobs deleted per call at most; the walk stops there and the next call goes on. @defaultValue no bound */
  batchSize?: number;
  /** Another reference to consult; a blob it claims is kept. */
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
 * Deletes blobs of `datastore` that no media record and no thumbnail record references and
 * that are older than `graceMs`. References are looked up (by the blob's key, its SHA-256,
 * with `getMediaBySha256` and `getThumbnailsBySha256`) right before each delete, never from a
 * snapshot taken at the start of the walk, so a datastore holding thumbnails is collected
 * safely too. A blob whose age the store does not report is kept.
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
  const batchSize = options.batchSize ?? Infinity;
  if (!(batchSize >= 1) || (batchSize !== Infinity && !Number.isSafeInteger(batchSize))) {
    throw new ConfigError(
      `Expected a positive integer for batchSize but received ${String(options.batchSize)}`,
      { option: "batchSize" },
    );
  }
  const counts: OrphanBlobCounts = { scanned: 0, deleted: 0, young: 0, referenced: 0 };
  if (!datastore.list || datastore.capabilities.readOnly) return counts;
  for await (const entry of datastore.list(signal ? { signal } : {})) {
    signal?.throwIfAborted();
    if (counts.deleted >= batchSize) break;
    counts.scanned++;
    const written = entry.lastModified?.getTime();
    if (written === undefined || now() - written < graceMs) {
      counts.young++;
      continue;
    }
    const used =
      (await referenced(metadata, datastore.id, entry.key)) ||
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

/** True when a media or a thumbnail record names the blob (`datastoreId`, `key`). */
async function referenced(
  metadata: CollectOrphanBlobsOptions["metadata"],
  datastoreId: string,
  key: string,
): Promise<boolean> {
  const names = (r: { datastoreId: string; location: string }) =>
    r.datastoreId === datastoreId && r.location === key;
  if ((await metadata.getMediaBySha256(key)).some(names)) return true;
  return (await metadata.getThumbnailsBySha256(key)).some(names);
}

/** Options of {@link purgeLocalMedia}. */
export interface PurgeLocalMediaOptions {
  repository: Pick<MediaRepository, "delete">;
  metadata: Pick<MetadataStore, "listExpiredLocalMedia">;
  /** Local media not downloaded for this long is deleted (protected and quarantined media is kept). */
  maxAgeMs: number;
  /** Media deleted per run at most; the next run goes on. @defaultValue 100 */
  batchSize?: number;
  /** @defaultValue `Date.now` */
  now?: () => number;
  /** Stops between media. */
  signal?: AbortSignal;
}

/**
 * Local media retention by last access (off unless a deployment asks for it): deletes up to
 * `batchSize` local uploads (their thumbnails and, when nothing else uses them, their blobs)
 * not downloaded for `maxAgeMs`, oldest access first (`listExpiredLocalMedia`); protected
 * and quarantined media is kept. Unlike remote media, deleted local media cannot be fetched
 * again.
 *
 * @example
 * ```ts
 * import { purgeLocalMedia } from "matrix-media-kit/scale";
 * await purgeLocalMedia({ repository, metadata, maxAgeMs: 365 * 24 * 3_600_000, batchSize: 500 });
 * ```
 */
export async function purgeLocalMedia(
  options: PurgeLocalMediaOptions,
): Promise<{ scanned: number; deleted: number }> {
  const { repository, metadata, signal } = options;
  const batchSize = options.batchSize ?? 100;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 1000) {
    throw new ConfigError(
      `Expected an integer 1–1000 for batchSize but received ${String(batchSize)}`,
      { option: "batchSize" },
    );
  }
  const before = (options.now ?? Date.now)() - options.maxAgeMs;
  const batch = await metadata.listExpiredLocalMedia({ before, limit: batchSize });
  let deleted = 0;
  for (const record of batch) {
    signal?.throwIfAborted();
    if (await repository.delete(record.origin, record.mediaId)) deleted++;
  }
  return { scanned: batch.length, deleted };
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
