// The SQLite schema, as versioned migrations tracked in `PRAGMA user_version` and applied
// inside one `BEGIN IMMEDIATE` transaction, so several processes on one file apply each once.
import type Database from "better-sqlite3";
import type { MigrationResult } from "../types.js";

/** Versioned migrations (tracked in `PRAGMA user_version`). Append only. */
const MIGRATIONS: Array<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
CREATE TABLE mmk_media (
  origin TEXT NOT NULL,
  media_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('local', 'remote', 'preview')),
  content_type TEXT NOT NULL,
  filename TEXT,
  size INTEGER NOT NULL CHECK (size >= 0),
  sha256 TEXT NOT NULL,
  datastore_id TEXT NOT NULL,
  location TEXT NOT NULL,
  uploader TEXT,
  created_at INTEGER NOT NULL,
  last_access_at INTEGER NOT NULL,
  quarantined INTEGER NOT NULL DEFAULT 0,
  protected INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (origin, media_id)
) STRICT;
CREATE INDEX mmk_media_sha256 ON mmk_media (sha256);
CREATE INDEX mmk_media_uploader ON mmk_media (uploader, created_at, origin, media_id)
  WHERE uploader IS NOT NULL;
CREATE INDEX mmk_media_remote_access ON mmk_media (last_access_at)
  WHERE kind = 'remote' AND protected = 0;

CREATE TABLE mmk_pending (
  origin TEXT NOT NULL,
  media_id TEXT NOT NULL,
  creator TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (origin, media_id)
) STRICT;
CREATE INDEX mmk_pending_creator ON mmk_pending (creator, expires_at);
CREATE INDEX mmk_pending_expires ON mmk_pending (expires_at);

CREATE TABLE mmk_thumbnails (
  origin TEXT NOT NULL,
  media_id TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  method TEXT NOT NULL CHECK (method IN ('crop', 'scale')),
  animated INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  datastore_id TEXT NOT NULL,
  location TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (origin, media_id, width, height, method, animated)
) STRICT;
CREATE INDEX mmk_thumbnails_sha256 ON mmk_thumbnails (sha256);

CREATE TABLE mmk_previews (
  url TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  language TEXT NOT NULL,
  json TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (url, bucket, language)
) STRICT;
CREATE INDEX mmk_previews_expires ON mmk_previews (expires_at);

CREATE TABLE mmk_usage (
  user_id TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL,
  count INTEGER NOT NULL
) STRICT;
`,
  },
  {
    // Local media by last access (the admin API's delete by date).
    version: 2,
    sql: `
CREATE INDEX mmk_media_local_access ON mmk_media (last_access_at)
  WHERE kind = 'local' AND protected = 0 AND quarantined = 0;
`,
  },
];

/** Applies what the database at `file` lacks. */
export function applyMigrations(db: Database.Database, file: string): MigrationResult {
  const latest = MIGRATIONS.at(-1)!.version;
  const applied: number[] = [];
  db.transaction(() => {
    const current = db.pragma("user_version", { simple: true }) as number;
    if (current > latest) {
      throw new Error(
        `sqliteMetadataStore: ${file} is at schema version ${current}, newer than this ` +
          `matrix-media-kit knows (${latest}); upgrade matrix-media-kit`,
      );
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      applied.push(migration.version);
    }
    if (applied.length > 0) db.pragma(`user_version = ${latest}`);
  }).immediate();
  return { applied, version: latest };
}
