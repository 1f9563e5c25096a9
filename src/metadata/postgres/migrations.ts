// The PostgreSQL schema, as versioned migrations applied under an advisory lock, so several
// processes starting together apply each one exactly once.
import { createHash } from "node:crypto";
import { publishMigrate } from "../diagnostics.js";
import type { MigrationResult } from "../types.js";
import { checkOut, type PgClientLike, type PgPoolLike } from "./client.js";

/** First key of every advisory lock the store takes ("mmk1"); the second is per schema/user. */
export const ADVISORY_LOCK_CLASS = 0x6d6d6b31;

/** The (class, object) pair of the migration advisory lock of a schema. */
export function migrationLockKey(schema: string): [number, number] {
  return [
    ADVISORY_LOCK_CLASS,
    createHash("sha256").update(`migrate:${schema}`).digest().readInt32BE(0),
  ];
}

/** Versioned migrations. Append only: never edit one that has shipped. */
export function migrations(s: string): Array<{ version: number; name: string; sql: string }> {
  return [
    {
      version: 1,
      name: "media, pending uploads, thumbnails, previews, usage",
      sql: `
CREATE TABLE ${s}.mmk_media (
  origin text COLLATE "C" NOT NULL,
  media_id text COLLATE "C" NOT NULL,
  kind text NOT NULL CHECK (kind IN ('local', 'remote', 'preview')),
  content_type text NOT NULL,
  filename text,
  size bigint NOT NULL CHECK (size >= 0),
  sha256 text COLLATE "C" NOT NULL,
  datastore_id text NOT NULL,
  location text NOT NULL,
  uploader text COLLATE "C",
  created_at bigint NOT NULL,
  last_access_at bigint NOT NULL,
  quarantined boolean NOT NULL DEFAULT false,
  protected boolean NOT NULL DEFAULT false,
  PRIMARY KEY (origin, media_id)
);
CREATE INDEX mmk_media_sha256 ON ${s}.mmk_media (sha256);
CREATE INDEX mmk_media_uploader ON ${s}.mmk_media (uploader, created_at, origin, media_id)
  WHERE uploader IS NOT NULL;
CREATE INDEX mmk_media_remote_access ON ${s}.mmk_media (last_access_at)
  WHERE kind = 'remote' AND NOT protected;

CREATE TABLE ${s}.mmk_pending (
  origin text COLLATE "C" NOT NULL,
  media_id text COLLATE "C" NOT NULL,
  creator text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (origin, media_id)
);
CREATE INDEX mmk_pending_creator ON ${s}.mmk_pending (creator, expires_at);
CREATE INDEX mmk_pending_expires ON ${s}.mmk_pending (expires_at);

CREATE TABLE ${s}.mmk_thumbnails (
  origin text COLLATE "C" NOT NULL,
  media_id text COLLATE "C" NOT NULL,
  width integer NOT NULL,
  height integer NOT NULL,
  method text NOT NULL CHECK (method IN ('crop', 'scale')),
  animated boolean NOT NULL,
  content_type text NOT NULL,
  size bigint NOT NULL,
  sha256 text COLLATE "C" NOT NULL,
  datastore_id text NOT NULL,
  location text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (origin, media_id, width, height, method, animated)
);
CREATE INDEX mmk_thumbnails_sha256 ON ${s}.mmk_thumbnails (sha256);

CREATE TABLE ${s}.mmk_previews (
  url text COLLATE "C" NOT NULL,
  bucket bigint NOT NULL,
  language text COLLATE "C" NOT NULL,
  json text NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (url, bucket, language)
);
CREATE INDEX mmk_previews_expires ON ${s}.mmk_previews (expires_at);

CREATE TABLE ${s}.mmk_usage (
  user_id text COLLATE "C" PRIMARY KEY,
  bytes bigint NOT NULL,
  count bigint NOT NULL
);
`,
    },
    {
      version: 2,
      name: "local media by last access (the admin API's delete by date)",
      sql: `
CREATE INDEX mmk_media_local_access ON ${s}.mmk_media (last_access_at)
  WHERE kind = 'local' AND NOT protected AND NOT quarantined;
`,
    },
  ];
}

/** Applies what `schema` lacks, under the schema's advisory lock. */
export async function applyMigrations(pool: PgPoolLike, schema: string): Promise<MigrationResult> {
  const client = await checkOut(pool);
  let broken: Error | undefined;
  const [lockClass, lockObject] = migrationLockKey(schema);
  try {
    await client.query({
      text: "SELECT pg_advisory_lock($1, $2)",
      values: [lockClass, lockObject],
    });
    try {
      return await migrateLocked(client, schema);
    } finally {
      await client.query({
        text: "SELECT pg_advisory_unlock($1, $2)",
        values: [lockClass, lockObject],
      });
    }
  } catch (err) {
    broken = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    // A connection that failed mid-migration may still hold the lock: destroy it.
    client.release(broken);
  }
}

async function migrateLocked(client: PgClientLike, schema: string): Promise<MigrationResult> {
  const quoted = `"${schema}"`;
  const table = `${quoted}.mmk_migrations`;
  const list = migrations(quoted);
  const latest = list.at(-1)!.version;
  const namespace = await client.query({
    text: "SELECT 1 FROM pg_namespace WHERE nspname = $1",
    values: [schema],
  });
  if (namespace.rows.length === 0) await client.query({ text: `CREATE SCHEMA ${quoted}` });
  await client.query({
    text: `CREATE TABLE IF NOT EXISTS ${table} (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`,
  });
  const { rows } = await client.query({ text: `SELECT version FROM ${table}` });
  const done = new Set(rows.map((row) => Number((row as { version: unknown }).version)));
  const newest = Math.max(0, ...done);
  if (newest > latest) {
    // Migrations only add, so a later version's schema still serves this one, provided it
    // holds every migration this version has (rolling upgrades run N and N+1 side by side).
    const missing = list.filter((m) => !done.has(m.version)).map((m) => m.version);
    const news =
      `postgresMetadataStore: schema ${schema} is at version ${newest}, newer than this ` +
      `matrix-media-kit knows (${latest})`;
    if (missing.length > 0) {
      throw new Error(`${news} but lacks its migrations ${missing.join(", ")}; refusing it`);
    }
    process.emitWarning(`${news}; running on it, as later migrations only add`, {
      code: "MMK_SCHEMA_NEWER",
    });
    return { applied: [], version: newest };
  }
  const applied: number[] = [];
  for (const migration of list) {
    if (done.has(migration.version)) continue;
    await client.query({ text: "BEGIN" });
    try {
      await client.query({ text: migration.sql });
      await client.query({
        text: `INSERT INTO ${table} (version, name) VALUES ($1, $2)`,
        values: [migration.version, migration.name],
      });
      await client.query({ text: "COMMIT" });
    } catch (err) {
      await client.query({ text: "ROLLBACK" });
      throw err;
    }
    applied.push(migration.version);
  }
  publishMigrate(`postgres:${schema}`, applied, latest);
  return { applied, version: latest };
}
