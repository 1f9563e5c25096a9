// SQLite's statements: the shared ones, and the steps it runs inside one transaction where
// PostgreSQL uses a single statement.
import type Database from "better-sqlite3";
import { MEDIA_COLUMNS, THUMBNAIL_COLUMNS, tables } from "../sql/columns.js";
import { sqliteDialect } from "../sql/dialect.js";
import { sharedStatements } from "../sql/statements.js";

const sqliteOnly = {
  /** MEDIA_COLUMNS */
  insertMedia: `INSERT INTO mmk_media (${MEDIA_COLUMNS}) VALUES (${Array(14).fill("?").join(", ")})
ON CONFLICT DO NOTHING`,
  /** userId, bytes, count (negative to subtract) */
  addUsage: `INSERT INTO mmk_usage (user_id, bytes, count) VALUES (?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET bytes = bytes + excluded.bytes, count = count + excluded.count`,
  /** at, origin, mediaId, at */
  touch: `UPDATE mmk_media SET last_access_at = ? WHERE origin = ? AND media_id = ? AND last_access_at < ?`,
  /** origin, mediaId */
  deleteMedia: `DELETE FROM mmk_media WHERE origin = ? AND media_id = ? RETURNING ${MEDIA_COLUMNS}`,
  /** origin, mediaId */
  deleteThumbnails: `DELETE FROM mmk_thumbnails WHERE origin = ? AND media_id = ? RETURNING ${THUMBNAIL_COLUMNS}`,
  /** { value, sha256 } */
  quarantineSha: `UPDATE mmk_media SET quarantined = @value
WHERE sha256 = @sha256 AND quarantined <> @value AND (@value = 0 OR protected = 0)
RETURNING origin, media_id, sha256`,
  /** uploader */
  uploaderHashes: `SELECT DISTINCT sha256 FROM mmk_media WHERE uploader = ?`,
  /** origin, mediaId */
  hashOf: `SELECT sha256 FROM mmk_media WHERE origin = ? AND media_id = ?`,
  /** origin, mediaId, now */
  takePending: `DELETE FROM mmk_pending WHERE origin = ? AND media_id = ? AND expires_at > ?`,
};

type StatementName = keyof ReturnType<typeof sharedStatements> | keyof typeof sqliteOnly;

/** @internal Every statement, prepared on `db` (after the migrations: preparing checks the tables). */
export function prepareStatements(
  db: Database.Database,
): Record<StatementName, Database.Statement> {
  const text = { ...sharedStatements(sqliteDialect, tables()), ...sqliteOnly };
  return Object.fromEntries(
    Object.entries(text).map(([name, statement]) => [name, db.prepare(statement)]),
  ) as Record<StatementName, Database.Statement>;
}

/** @internal */
export type SqliteStatements = ReturnType<typeof prepareStatements>;
