// Column lists and table names, the same on PostgreSQL and SQLite.

/** @internal Columns of `mmk_media`, in the order of {@link mediaValues}. */
export const MEDIA_COLUMNS =
  "origin, media_id, kind, content_type, filename, size, sha256, datastore_id, location, uploader, created_at, last_access_at, quarantined, protected";
/** @internal Columns of `mmk_thumbnails`, in the order of {@link thumbnailValues}. */
export const THUMBNAIL_COLUMNS =
  "origin, media_id, width, height, method, animated, content_type, size, sha256, datastore_id, location, created_at";
/** @internal */
export const PENDING_COLUMNS = "origin, media_id, creator, created_at, expires_at";
/** @internal */
export const PREVIEW_COLUMNS = "url, bucket, language, json, expires_at";
/** @internal The primary key of a thumbnail, which is also the order `getThumbnails` lists them in. */
export const THUMBNAIL_KEY = "origin, media_id, width, height, method, animated";
export const THUMBNAIL_ORDER = "width, height, method, animated";

/** @internal Qualified table names (`"schema".mmk_media` on PostgreSQL). */
export interface Tables {
  media: string;
  pending: string;
  thumbnails: string;
  previews: string;
  usage: string;
}

/** @internal The tables, optionally in a (validated, quoted) schema. */
export function tables(schema?: string): Tables {
  const prefix = schema === undefined ? "" : `"${schema}".`;
  return {
    media: `${prefix}mmk_media`,
    pending: `${prefix}mmk_pending`,
    thumbnails: `${prefix}mmk_thumbnails`,
    previews: `${prefix}mmk_previews`,
    usage: `${prefix}mmk_usage`,
  };
}
