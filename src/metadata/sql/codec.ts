// Rows to records and back, for both SQL stores. PostgreSQL returns bigint columns as strings
// (hence `Number`) and booleans as booleans; SQLite returns numbers for both.
import type { MediaRecord, PendingUpload, PreviewCacheEntry, ThumbnailRecord } from "../types.js";
import type { SqlDialect } from "./dialect.js";

/** @internal A result row, keyed by column name. */
export type Row = Record<string, unknown>;

/** @internal */
export function rowToMedia(row: Row, dialect: SqlDialect): MediaRecord {
  return {
    origin: row.origin as string,
    mediaId: row.media_id as string,
    kind: row.kind as MediaRecord["kind"],
    contentType: row.content_type as string,
    filename: row.filename as string | null,
    size: Number(row.size),
    sha256: row.sha256 as string,
    datastoreId: row.datastore_id as string,
    location: row.location as string,
    uploader: row.uploader as string | null,
    createdAt: Number(row.created_at),
    lastAccessAt: Number(row.last_access_at),
    quarantined: dialect.fromBoolean(row.quarantined),
    protected: dialect.fromBoolean(row.protected),
  };
}

/** @internal Values of `MEDIA_COLUMNS`, in order. */
export function mediaValues(record: MediaRecord, dialect: SqlDialect): unknown[] {
  return [
    record.origin,
    record.mediaId,
    record.kind,
    record.contentType,
    record.filename,
    record.size,
    record.sha256,
    record.datastoreId,
    record.location,
    record.uploader,
    record.createdAt,
    record.lastAccessAt,
    dialect.toBoolean(record.quarantined),
    dialect.toBoolean(record.protected),
  ];
}

/** @internal */
export function rowToThumbnail(row: Row, dialect: SqlDialect): ThumbnailRecord {
  return {
    origin: row.origin as string,
    mediaId: row.media_id as string,
    width: Number(row.width),
    height: Number(row.height),
    method: row.method as ThumbnailRecord["method"],
    animated: dialect.fromBoolean(row.animated),
    contentType: row.content_type as string,
    size: Number(row.size),
    sha256: row.sha256 as string,
    datastoreId: row.datastore_id as string,
    location: row.location as string,
    createdAt: Number(row.created_at),
  };
}

/** @internal Values of `THUMBNAIL_COLUMNS`, in order. */
export function thumbnailValues(thumbnail: ThumbnailRecord, dialect: SqlDialect): unknown[] {
  return [
    thumbnail.origin,
    thumbnail.mediaId,
    thumbnail.width,
    thumbnail.height,
    thumbnail.method,
    dialect.toBoolean(thumbnail.animated),
    thumbnail.contentType,
    thumbnail.size,
    thumbnail.sha256,
    thumbnail.datastoreId,
    thumbnail.location,
    thumbnail.createdAt,
  ];
}

/** @internal */
export function rowToPending(row: Row): PendingUpload {
  return {
    origin: row.origin as string,
    mediaId: row.media_id as string,
    creator: row.creator as string,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}

/** @internal Values of `PENDING_COLUMNS`, in order. */
export function pendingValues(pending: PendingUpload): unknown[] {
  return [pending.origin, pending.mediaId, pending.creator, pending.createdAt, pending.expiresAt];
}

/** @internal */
export function rowToPreview(row: Row): PreviewCacheEntry {
  return {
    url: row.url as string,
    bucket: Number(row.bucket),
    language: row.language as string,
    json: row.json as string,
    expiresAt: Number(row.expires_at),
  };
}

/** @internal Values of `PREVIEW_COLUMNS`, in order. */
export function previewValues(entry: PreviewCacheEntry): unknown[] {
  return [entry.url, entry.bucket, entry.language, entry.json, entry.expiresAt];
}

/** @internal The affected-record triple of a quarantine's `RETURNING origin, media_id, sha256`. */
export function rowToAffected(row: Row): { origin: string; mediaId: string; sha256: string } {
  return {
    origin: row.origin as string,
    mediaId: row.media_id as string,
    sha256: row.sha256 as string,
  };
}

/** @internal The row codec of one dialect: every function above with the dialect bound. */
export function rowCodec(dialect: SqlDialect) {
  return {
    toMedia: (row: Row) => rowToMedia(row, dialect),
    fromMedia: (record: MediaRecord) => mediaValues(record, dialect),
    toThumbnail: (row: Row) => rowToThumbnail(row, dialect),
    fromThumbnail: (thumbnail: ThumbnailRecord) => thumbnailValues(thumbnail, dialect),
    toPending: rowToPending,
    /** `PENDING_COLUMNS`, then origin and mediaId again (for `insertPending`'s existence check). */
    fromPendingForInsert: (pending: PendingUpload) => [
      ...pendingValues(pending),
      pending.origin,
      pending.mediaId,
    ],
    toPreview: rowToPreview,
    fromPreview: previewValues,
    toAffected: rowToAffected,
    toUsage: (row: Row | undefined) =>
      row && { bytes: Number(row.bytes), count: Number(row.count) },
  };
}
