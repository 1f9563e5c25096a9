import type { MxcUri } from "../mxc.js";
import type {
  CountedPage,
  ExpiredLocalMediaQuery,
  UploaderMediaQuery,
  UserMediaStatistics,
  UserMediaStatisticsQuery,
} from "./admin.js";

// The admin queries' types, so every entry that re-exports this file's types has them too.
export type {
  CountedPage,
  ExpiredCursor,
  ExpiredLocalMediaQuery,
  SortDirection,
  UploaderMediaOrder,
  UploaderMediaQuery,
  UserMediaOrder,
  UserMediaStatistics,
  UserMediaStatisticsQuery,
} from "./admin.js";

/** Kinds of media that have a {@link MediaRecord}. Thumbnails have {@link ThumbnailRecord}s. */
export type MediaRecordKind = "local" | "remote" | "preview";

/** One piece of media: who uploaded it, where its bytes live, and its state. */
export interface MediaRecord {
  /** Server name of the `mxc://` URI (ours for local media). */
  origin: string;
  /** Media ID of the `mxc://` URI; unique per origin. */
  mediaId: string;
  /** Our upload, a copy of remote media, or a URL preview image. */
  kind: MediaRecordKind;
  /** As uploaded (never sniffed over what the uploader said). */
  contentType: string;
  /** The uploader's filename, verbatim; `null` when none was given. */
  filename: string | null;
  /** Bytes. */
  size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  /** Which datastore holds the bytes, and under which key. */
  datastoreId: string;
  location: string;
  /** Matrix user ID of the uploader; `null` for remote media. */
  uploader: string | null;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
  /** Last download or thumbnail of it, in ms since the epoch (batched; see `touchMedia`). */
  lastAccessAt: number;
  /** Quarantined media is never served. */
  quarantined: boolean;
  /** Protected media is never quarantined or purged. */
  protected: boolean;
}

/** An ID handed out by `POST /create`, waiting for its bytes. */
export interface PendingUpload {
  origin: string;
  mediaId: string;
  creator: string;
  createdAt: number;
  expiresAt: number;
}

/** A stored thumbnail of a piece of media. */
export interface ThumbnailRecord {
  origin: string;
  mediaId: string;
  width: number;
  height: number;
  method: "crop" | "scale";
  animated: boolean;
  contentType: string;
  size: number;
  sha256: string;
  datastoreId: string;
  location: string;
  createdAt: number;
}

/** A cached URL preview (the Matrix `preview_url` JSON). */
export interface PreviewCacheEntry {
  url: string;
  /** Start of the hour the preview was asked for, in ms since the epoch (`ts` rounded down). */
  bucket: number;
  /** The `Accept-Language` the preview was fetched with ("" for none). */
  language: string;
  /** The preview JSON, as a string. */
  json: string;
  expiresAt: number;
}

/** Bytes and items a user stores. */
export interface UsageStats {
  bytes: number;
  count: number;
}

/** What to quarantine. Quarantining one record quarantines every record with the same sha256. */
export type QuarantineTarget =
  { mxc: MxcUri } | { mxcs: readonly MxcUri[] } | { sha256: string } | { uploader: string };

/** Records whose quarantine flag changed, so callers can purge caches. */
export interface QuarantineResult {
  affected: Array<{ origin: string; mediaId: string; sha256: string }>;
}

/** A page of results and the cursor of the next page (absent on the last page). */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** What {@link MetadataStore.migrate} did. */
export interface MigrationResult {
  /** Versions this call applied (empty when the schema was already current). */
  applied: number[];
  /** The schema version now in place. */
  version: number;
}

/**
 * Where media metadata lives. Implementations: `memoryMetadataStore`,
 * `postgresMetadataStore`, `sqliteMetadataStore`. Run `describeMetadataStore()` from
 * `matrix-media-kit/testing` against your own.
 *
 * Methods throw `MediaError`: `M_CANNOT_OVERWRITE_MEDIA` when a media ID is taken,
 * `M_NOT_FOUND` for a missing pending upload, `M_LIMIT_EXCEEDED` past a pending limit,
 * `M_INVALID_PARAM` for a value that cannot be stored (e.g. a NUL in a string).
 */
export interface MetadataStore {
  /** Inserts a record; `M_CANNOT_OVERWRITE_MEDIA` when (origin, mediaId) exists. Updates usage. */
  insertMedia(record: MediaRecord): Promise<void>;
  /** The record of `mxc://{origin}/{mediaId}`, quarantined or not. */
  getMedia(origin: string, mediaId: string): Promise<MediaRecord | undefined>;
  /** Every record whose bytes have this hash (dedup, quarantine checks, blob GC). */
  getMediaBySha256(sha256: string): Promise<MediaRecord[]>;
  /** A user's uploads, newest first, with a stable cursor. */
  listMediaByUploader(
    uploader: string,
    options?: { limit?: number; cursor?: string },
  ): Promise<Page<MediaRecord>>;
  /** Remote media last accessed before `before` (ms), excluding protected media. */
  listRemoteMediaAccessedBefore(
    before: number,
    options?: { limit?: number },
  ): Promise<MediaRecord[]>;
  /** Records last-access times in one batch (callers batch per interval, not per request). */
  touchMedia(
    accesses: ReadonlyArray<{ origin: string; mediaId: string; at: number }>,
  ): Promise<void>;
  /** Deletes a record (and its thumbnail records); returns what was deleted. Updates usage. */
  deleteMedia(
    origin: string,
    mediaId: string,
  ): Promise<{ media: MediaRecord; thumbnails: ThumbnailRecord[] } | undefined>;
  /** Sets or clears protection; false when the media does not exist. */
  setProtected(origin: string, mediaId: string, value: boolean): Promise<boolean>;
  /** Sets or clears quarantine (protected media is skipped when setting). */
  quarantine(target: QuarantineTarget, value?: boolean): Promise<QuarantineResult>;

  /** Records a pending upload; `M_LIMIT_EXCEEDED` when the creator has `maxPendingPerUser` unexpired ones. */
  createPending(pending: PendingUpload, options?: { maxPendingPerUser?: number }): Promise<void>;
  /** The pending upload, expired or not (compare `expiresAt`). */
  getPending(origin: string, mediaId: string): Promise<PendingUpload | undefined>;
  /**
   * Atomically turns a pending upload into media: exactly one of concurrent callers wins;
   * others get `M_CANNOT_OVERWRITE_MEDIA`. A missing or expired pending upload gives `M_NOT_FOUND`.
   */
  completePending(record: MediaRecord, now: number): Promise<void>;
  /** Removes pending uploads with `expiresAt <= now`; returns how many. */
  deleteExpiredPending(now: number): Promise<number>;

  /** Inserts or replaces the thumbnail of the same (media, width, height, method, animated). */
  putThumbnail(thumbnail: ThumbnailRecord): Promise<void>;
  /** Every thumbnail of a media, by width, height, method, animated. */
  getThumbnails(origin: string, mediaId: string): Promise<ThumbnailRecord[]>;

  /** The cached preview, expired or not (the store has no clock: compare `expiresAt`). */
  getPreview(url: string, bucket: number, language: string): Promise<PreviewCacheEntry | undefined>;
  /** Inserts or replaces the preview of the same (url, bucket, language). */
  putPreview(entry: PreviewCacheEntry): Promise<void>;
  /** Removes previews with `expiresAt <= now`; returns how many. */
  deleteExpiredPreviews(now: number): Promise<number>;

  /** Bytes and count of a user's local media, maintained incrementally. */
  getUsage(userId: string): Promise<UsageStats>;

  // The admin API's queries.
  /**
   * A page of a user's media (local uploads and their preview images) by offset, in any of
   * {@link UploaderMediaOrder}'s orders, with the number of all of them.
   */
  pageMediaByUploader(
    uploader: string,
    query?: UploaderMediaQuery,
  ): Promise<CountedPage<MediaRecord>>;
  /**
   * Local media last accessed before `query.before` and larger than `query.sizeGt`, oldest
   * access first, excluding protected and quarantined media.
   */
  listExpiredLocalMedia(query: ExpiredLocalMediaQuery): Promise<MediaRecord[]>;
  /** Items and bytes of local media per uploader, paged by offset. */
  getUserMediaStatistics(
    query?: UserMediaStatisticsQuery,
  ): Promise<CountedPage<UserMediaStatistics>>;

  /**
   * Brings the schema up to date: versioned migrations, applied once even when several
   * processes call it together. Optional: stores that need no setup omit it. Call it once
   * at startup (`await store.migrate?.()`); a store that needs it also runs it before its
   * first operation if nobody did.
   */
  migrate?(): Promise<MigrationResult>;

  /** Releases connections (an injected pool is left open). */
  close(): Promise<void>;

  // --- Background jobs: orphan blob collection ---

  /**
   * Every thumbnail whose bytes have this SHA-256 (the blob key of the kit's drivers), by
   * (origin, mediaId) then size, so a collector can tell a thumbnail blob still in use.
   */
  getThumbnailsBySha256(sha256: string): Promise<ThumbnailRecord[]>;
}
