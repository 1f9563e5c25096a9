// The statements PostgreSQL and SQLite run alike, written once; each store adds the few it
// runs its own way (PostgreSQL's data-modifying CTEs, SQLite's steps inside one transaction).
import {
  MEDIA_COLUMNS,
  PENDING_COLUMNS,
  PREVIEW_COLUMNS,
  THUMBNAIL_COLUMNS,
  THUMBNAIL_KEY,
  THUMBNAIL_ORDER,
  type Tables,
} from "./columns.js";
import { sql, type SqlDialect } from "./dialect.js";

/** @internal `count` placeholders, comma-separated. */
export function placeholderList(param: (type?: string) => string, count: number): string {
  return Array.from({ length: count }, () => param()).join(", ");
}

function mediaStatements(dialect: SqlDialect, table: Tables) {
  const byUploader = `SELECT ${MEDIA_COLUMNS} FROM ${table.media} WHERE uploader = `;
  const newestFirst = "ORDER BY created_at DESC, origin DESC, media_id DESC LIMIT";
  return {
    /** origin, mediaId */
    getMedia: sql(
      dialect,
      (p) =>
        `SELECT ${MEDIA_COLUMNS} FROM ${table.media} WHERE origin = ${p()} AND media_id = ${p()}`,
    ),
    /** origin, mediaId */
    exists: sql(
      dialect,
      (p) => `SELECT 1 FROM ${table.media} WHERE origin = ${p()} AND media_id = ${p()}`,
    ),
    /** sha256 */
    bySha256: sql(
      dialect,
      (p) =>
        `SELECT ${MEDIA_COLUMNS} FROM ${table.media} WHERE sha256 = ${p()} ORDER BY origin, media_id`,
    ),
    /** uploader, count */
    byUploader: sql(dialect, (p) => `${byUploader}${p()}\n${newestFirst} ${p()}`),
    /** uploader, createdAt, origin, mediaId (of the cursor), count */
    byUploaderAfter: sql(
      dialect,
      (p) =>
        `${byUploader}${p()} AND (created_at, origin, media_id) < (${p("bigint")}, ${p("text")}, ${p("text")})\n${newestFirst} ${p()}`,
    ),
    /** before, limit */
    remoteBefore: sql(
      dialect,
      (p) => `SELECT ${MEDIA_COLUMNS} FROM ${table.media}
WHERE kind = 'remote' AND ${dialect.isFalse("protected")} AND last_access_at < ${p()}
ORDER BY last_access_at, origin, media_id LIMIT ${p()}`,
    ),
    // --- Background jobs: orphan blob collection ---
    /** sha256 */
    thumbnailsBySha256: sql(
      dialect,
      (p) => `SELECT ${THUMBNAIL_COLUMNS} FROM ${table.thumbnails} WHERE sha256 = ${p()}
ORDER BY origin, media_id, ${THUMBNAIL_ORDER}`,
    ),
    /** protected, origin, mediaId */
    setProtected: sql(
      dialect,
      (p) =>
        `UPDATE ${table.media} SET protected = ${p()} WHERE origin = ${p()} AND media_id = ${p()}`,
    ),
  };
}

function otherStatements(dialect: SqlDialect, table: Tables) {
  return {
    /** PENDING_COLUMNS, then origin, mediaId again */
    insertPending: sql(
      dialect,
      (p) => `INSERT INTO ${table.pending} (${PENDING_COLUMNS})
SELECT ${p("text")}, ${p("text")}, ${p("text")}, ${p("bigint")}, ${p("bigint")}
WHERE NOT EXISTS (SELECT 1 FROM ${table.media} WHERE origin = ${p()} AND media_id = ${p()})
ON CONFLICT DO NOTHING`,
    ),
    /** creator, now */
    countPending: sql(
      dialect,
      (p) =>
        `SELECT count(*) AS n FROM ${table.pending} WHERE creator = ${p()} AND expires_at > ${p()}`,
    ),
    /** origin, mediaId */
    getPending: sql(
      dialect,
      (p) =>
        `SELECT ${PENDING_COLUMNS} FROM ${table.pending} WHERE origin = ${p()} AND media_id = ${p()}`,
    ),
    /** now */
    deleteExpiredPending: sql(
      dialect,
      (p) => `DELETE FROM ${table.pending} WHERE expires_at <= ${p()}`,
    ),
    /** THUMBNAIL_COLUMNS */
    putThumbnail: sql(
      dialect,
      (
        p,
      ) => `INSERT INTO ${table.thumbnails} (${THUMBNAIL_COLUMNS}) VALUES (${placeholderList(p, 12)})
ON CONFLICT (${THUMBNAIL_KEY}) DO UPDATE SET
  content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256,
  datastore_id = excluded.datastore_id, location = excluded.location, created_at = excluded.created_at`,
    ),
    /** origin, mediaId */
    getThumbnails: sql(
      dialect,
      (
        p,
      ) => `SELECT ${THUMBNAIL_COLUMNS} FROM ${table.thumbnails} WHERE origin = ${p()} AND media_id = ${p()}
ORDER BY ${THUMBNAIL_ORDER}`,
    ),
    /** url, bucket, language */
    getPreview: sql(
      dialect,
      (p) => `SELECT ${PREVIEW_COLUMNS} FROM ${table.previews}
WHERE url = ${p()} AND bucket = ${p()} AND language = ${p()}`,
    ),
    /** PREVIEW_COLUMNS */
    putPreview: sql(
      dialect,
      (p) => `INSERT INTO ${table.previews} (${PREVIEW_COLUMNS}) VALUES (${placeholderList(p, 5)})
ON CONFLICT (url, bucket, language) DO UPDATE SET json = excluded.json, expires_at = excluded.expires_at`,
    ),
    /** now */
    deleteExpiredPreviews: sql(
      dialect,
      (p) => `DELETE FROM ${table.previews} WHERE expires_at <= ${p()}`,
    ),
    /** userId */
    usage: sql(dialect, (p) => `SELECT bytes, count FROM ${table.usage} WHERE user_id = ${p()}`),
  };
}

/**
 * @internal The shared statements. Values bind in the order the comments give; the paging
 * statements fetch `count` rows (one more than a page).
 */
export function sharedStatements(dialect: SqlDialect, table: Tables) {
  return { ...mediaStatements(dialect, table), ...otherStatements(dialect, table) };
}

/** @internal */
export type SharedStatements = ReturnType<typeof sharedStatements>;
