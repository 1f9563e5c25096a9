// PostgreSQL store on an injected `pg` pool. This file never imports `pg` at runtime: the
// pool is the caller's, so `matrix-media-kit/metadata` loads without the driver.
import { createHash } from "node:crypto";
import {
  cannotOverwrite,
  checkAccesses,
  checkBoolean,
  checkKey,
  checkLimit,
  checkMaxPending,
  checkMediaRecord,
  checkPending,
  checkPreview,
  checkSha256,
  checkString,
  checkTarget,
  checkThumbnail,
  checkTime,
  decodeCursor,
  encodeCursor,
  pendingLimit,
  pendingNotFound,
} from "./common.js";
import { publishMigrate, publishQuarantine } from "./diagnostics.js";
import type {
  MediaRecord,
  MetadataStore,
  MigrationResult,
  PendingUpload,
  PreviewCacheEntry,
  QuarantineResult,
  ThumbnailRecord,
} from "./types.js";

/** The part of a `pg` query result the store reads. */
export interface PgQueryResult {
  rows: unknown[];
  rowCount: number | null;
}

/** A query as `pg` takes it; `name` makes it a prepared statement per connection. */
export interface PgQueryConfig {
  text: string;
  values?: unknown[];
  name?: string;
}

/** A checked-out `pg` client (`pg.PoolClient` fits). */
export interface PgClientLike {
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  /** Passing an error destroys the connection instead of returning it to the pool. */
  release(err?: Error | boolean): void;
}

/** A `pg` pool (`pg.Pool` fits); the store never ends it. */
export interface PgPoolLike {
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  connect(): Promise<PgClientLike>;
}

/** Options of {@link postgresMetadataStore}. */
export interface PostgresMetadataStoreOptions {
  /** A `pg.Pool` (injected: the store uses it and never ends it). */
  pool: PgPoolLike;
  /**
   * PostgreSQL schema holding the tables (created by `migrate()` when missing). Tables are
   * prefixed `mmk_`, so sharing a schema with a homeserver is safe.
   * @defaultValue "public"
   */
  schema?: string;
  /**
   * Name the store's queries so `pg` prepares each once per connection (faster). Turn off
   * behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode
   * before 1.21).
   * @defaultValue true
   */
  preparedStatements?: boolean;
}

/** A PostgreSQL {@link MetadataStore}; `migrate()` is always present. */
export interface PostgresMetadataStore extends MetadataStore {
  /** The schema the tables live in. */
  readonly schema: string;
  /** Applies pending migrations under a PostgreSQL advisory lock; safe from several processes at once. */
  migrate(): Promise<MigrationResult>;
}

/**
 * Defaults of {@link PostgresMetadataStoreOptions}.
 *
 * @example
 * ```ts
 * postgresMetadataStore({ pool, schema: DEFAULT_POSTGRES_METADATA_OPTIONS.schema });
 * ```
 */
export const DEFAULT_POSTGRES_METADATA_OPTIONS = {
  /** @defaultValue "public" */
  schema: "public",
  /** @defaultValue true */
  preparedStatements: true,
} as const;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** First key of every advisory lock the store takes ("mmk1"); the second is per schema/user. */
export const ADVISORY_LOCK_CLASS = 0x6d6d6b31;

/** The (class, object) pair of the migration advisory lock of a schema. */
export function migrationLockKey(schema: string): [number, number] {
  return [
    ADVISORY_LOCK_CLASS,
    createHash("sha256").update(`migrate:${schema}`).digest().readInt32BE(0),
  ];
}

const MEDIA_COLUMNS =
  "origin, media_id, kind, content_type, filename, size, sha256, datastore_id, location, uploader, created_at, last_access_at, quarantined, protected";
const THUMB_COLUMNS =
  "origin, media_id, width, height, method, animated, content_type, size, sha256, datastore_id, location, created_at";

/** Versioned migrations. Append only: never edit one that has shipped. */
function migrations(s: string): Array<{ version: number; name: string; sql: string }> {
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
  ];
}

type Row = Record<string, unknown>;

function toMedia(r: Row): MediaRecord {
  return {
    origin: r.origin as string,
    mediaId: r.media_id as string,
    kind: r.kind as MediaRecord["kind"],
    contentType: r.content_type as string,
    filename: r.filename as string | null,
    size: Number(r.size),
    sha256: r.sha256 as string,
    datastoreId: r.datastore_id as string,
    location: r.location as string,
    uploader: r.uploader as string | null,
    createdAt: Number(r.created_at),
    lastAccessAt: Number(r.last_access_at),
    quarantined: r.quarantined as boolean,
    protected: r.protected as boolean,
  };
}

function toThumbnail(r: Row): ThumbnailRecord {
  return {
    origin: r.origin as string,
    mediaId: r.media_id as string,
    width: Number(r.width),
    height: Number(r.height),
    method: r.method as ThumbnailRecord["method"],
    animated: r.animated as boolean,
    contentType: r.content_type as string,
    size: Number(r.size),
    sha256: r.sha256 as string,
    datastoreId: r.datastore_id as string,
    location: r.location as string,
    createdAt: Number(r.created_at),
  };
}

const mediaValues = (r: MediaRecord): unknown[] => [
  r.origin,
  r.mediaId,
  r.kind,
  r.contentType,
  r.filename,
  r.size,
  r.sha256,
  r.datastoreId,
  r.location,
  r.uploader,
  r.createdAt,
  r.lastAccessAt,
  r.quarantined,
  r.protected,
];

const pgCode = (err: unknown): string | undefined =>
  typeof err === "object" && err !== null && typeof (err as { code?: unknown }).code === "string"
    ? (err as { code: string }).code
    : undefined;

/**
 * A metadata store on PostgreSQL through an injected `pg` pool.
 *
 * The factory does no I/O. Call `await store.migrate()` once at startup: it applies the
 * versioned migrations under a PostgreSQL advisory lock, so several processes starting
 * together apply each migration exactly once (the others wait, then see it applied). A
 * store whose `migrate()` was never called runs it before its first operation.
 *
 * Writes that must agree (a record and its uploader's usage counters, completing a pending
 * upload, deleting a record with its thumbnails) are single statements or transactions.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { postgresMetadataStore } from "matrix-media-kit/metadata";
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const metadata = postgresMetadataStore({ pool });
 * await metadata.migrate(); // { applied: [1], version: 1 } the first time
 * ```
 */
export function postgresMetadataStore(
  options: PostgresMetadataStoreOptions,
): PostgresMetadataStore {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("postgresMetadataStore: expected an options object with a pool");
  }
  const pool = options.pool;
  if (
    typeof pool !== "object" ||
    pool === null ||
    typeof pool.query !== "function" ||
    typeof pool.connect !== "function"
  ) {
    throw new TypeError("postgresMetadataStore: expected options.pool to be a pg.Pool");
  }
  const schema = options.schema ?? DEFAULT_POSTGRES_METADATA_OPTIONS.schema;
  if (typeof schema !== "string" || !SCHEMA_NAME.test(schema)) {
    throw new TypeError(
      `postgresMetadataStore: expected options.schema to match ${String(SCHEMA_NAME)} but received ${JSON.stringify(schema)}`,
    );
  }
  const prepared =
    options.preparedStatements ?? DEFAULT_POSTGRES_METADATA_OPTIONS.preparedStatements;
  if (typeof prepared !== "boolean") {
    throw new TypeError(
      `postgresMetadataStore: expected a boolean for options.preparedStatements but received ${typeof prepared}`,
    );
  }
  const s = `"${schema}"`;
  const T = {
    media: `${s}.mmk_media`,
    pending: `${s}.mmk_pending`,
    thumbs: `${s}.mmk_thumbnails`,
    previews: `${s}.mmk_previews`,
    usage: `${s}.mmk_usage`,
    migrations: `${s}.mmk_migrations`,
  };
  // Prepared-statement names are per connection; the schema hash keeps two stores sharing
  // a pool (different schemas) from colliding.
  const tag = createHash("sha256").update(schema).digest("hex").slice(0, 8);
  const pendingLockClass = ADVISORY_LOCK_CLASS + 1;

  const SQL = {
    getMedia: `SELECT ${MEDIA_COLUMNS} FROM ${T.media} WHERE origin = $1 AND media_id = $2`,
    bySha256: `SELECT ${MEDIA_COLUMNS} FROM ${T.media} WHERE sha256 = $1 ORDER BY origin, media_id`,
    insertMedia: `
WITH ins AS (
  INSERT INTO ${T.media} (${MEDIA_COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
  ON CONFLICT DO NOTHING
  RETURNING kind, uploader, size
), u AS (
  INSERT INTO ${T.usage} AS us (user_id, bytes, count)
  SELECT uploader, size, 1 FROM ins WHERE kind = 'local' AND uploader IS NOT NULL
  ON CONFLICT (user_id) DO UPDATE SET bytes = us.bytes + excluded.bytes, count = us.count + 1
)
SELECT count(*)::int AS n FROM ins`,
    completePending: `
WITH p AS (
  DELETE FROM ${T.pending} WHERE origin = $1 AND media_id = $2 AND expires_at > $15 RETURNING 1
), ins AS (
  INSERT INTO ${T.media} (${MEDIA_COLUMNS})
  SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::text, $8::text, $9::text,
         $10::text, $11::bigint, $12::bigint, $13::boolean, $14::boolean
  FROM p
  RETURNING kind, uploader, size
), u AS (
  INSERT INTO ${T.usage} AS us (user_id, bytes, count)
  SELECT uploader, size, 1 FROM ins WHERE kind = 'local' AND uploader IS NOT NULL
  ON CONFLICT (user_id) DO UPDATE SET bytes = us.bytes + excluded.bytes, count = us.count + 1
)
SELECT (SELECT count(*) FROM ins)::int AS n`,
    exists: `SELECT 1 FROM ${T.media} WHERE origin = $1 AND media_id = $2`,
    deleteMedia: `
WITH d AS (
  DELETE FROM ${T.media} WHERE origin = $1 AND media_id = $2 RETURNING *
), t AS (
  DELETE FROM ${T.thumbs} th USING d WHERE th.origin = d.origin AND th.media_id = d.media_id
  RETURNING th.*
), u AS (
  UPDATE ${T.usage} us SET bytes = us.bytes - d.size, count = us.count - 1
  FROM d WHERE d.kind = 'local' AND us.user_id = d.uploader
)
SELECT (SELECT row_to_json(d) FROM d) AS media,
       (SELECT coalesce(json_agg(t ORDER BY t.width, t.height, t.method, t.animated), '[]'::json) FROM t)
         AS thumbnails`,
    byUploader: `SELECT ${MEDIA_COLUMNS} FROM ${T.media} WHERE uploader = $1
ORDER BY created_at DESC, origin DESC, media_id DESC LIMIT $2`,
    byUploaderAfter: `SELECT ${MEDIA_COLUMNS} FROM ${T.media}
WHERE uploader = $1 AND (created_at, origin, media_id) < ($3::bigint, $4::text, $5::text)
ORDER BY created_at DESC, origin DESC, media_id DESC LIMIT $2`,
    remoteBefore: `SELECT ${MEDIA_COLUMNS} FROM ${T.media}
WHERE kind = 'remote' AND NOT protected AND last_access_at < $1
ORDER BY last_access_at, origin, media_id LIMIT $2`,
    touch: `UPDATE ${T.media} m SET last_access_at = v.at
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(origin, media_id, at)
WHERE m.origin = v.origin AND m.media_id = v.media_id AND m.last_access_at < v.at`,
    setProtected: `UPDATE ${T.media} SET protected = $3 WHERE origin = $1 AND media_id = $2`,
    quarantineSha: `UPDATE ${T.media} SET quarantined = $2
WHERE sha256 = $1 AND quarantined <> $2 AND (NOT $2 OR NOT protected)
RETURNING origin, media_id, sha256`,
    quarantineUploader: `UPDATE ${T.media} SET quarantined = $2
WHERE sha256 IN (SELECT sha256 FROM ${T.media} WHERE uploader = $1)
  AND quarantined <> $2 AND (NOT $2 OR NOT protected)
RETURNING origin, media_id, sha256`,
    quarantineMxcs: `UPDATE ${T.media} SET quarantined = $3
WHERE sha256 IN (
  SELECT m.sha256 FROM ${T.media} m
  JOIN unnest($1::text[], $2::text[]) AS v(origin, media_id)
    ON m.origin = v.origin AND m.media_id = v.media_id
) AND quarantined <> $3 AND (NOT $3 OR NOT protected)
RETURNING origin, media_id, sha256`,
    insertPending: `INSERT INTO ${T.pending} (origin, media_id, creator, created_at, expires_at)
SELECT $1::text, $2::text, $3::text, $4::bigint, $5::bigint
WHERE NOT EXISTS (SELECT 1 FROM ${T.media} WHERE origin = $1 AND media_id = $2)
ON CONFLICT DO NOTHING`,
    countPending: `SELECT count(*)::int AS n FROM ${T.pending} WHERE creator = $1 AND expires_at > $2`,
    lockCreator: `SELECT pg_advisory_xact_lock($1, hashtext($2))`,
    getPending: `SELECT origin, media_id, creator, created_at, expires_at FROM ${T.pending}
WHERE origin = $1 AND media_id = $2`,
    deleteExpiredPending: `DELETE FROM ${T.pending} WHERE expires_at <= $1`,
    putThumbnail: `INSERT INTO ${T.thumbs} (${THUMB_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (origin, media_id, width, height, method, animated) DO UPDATE SET
  content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256,
  datastore_id = excluded.datastore_id, location = excluded.location, created_at = excluded.created_at`,
    getThumbnails: `SELECT ${THUMB_COLUMNS} FROM ${T.thumbs} WHERE origin = $1 AND media_id = $2
ORDER BY width, height, method, animated`,
    getPreview: `SELECT url, bucket, language, json, expires_at FROM ${T.previews}
WHERE url = $1 AND bucket = $2 AND language = $3`,
    putPreview: `INSERT INTO ${T.previews} (url, bucket, language, json, expires_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (url, bucket, language) DO UPDATE SET json = excluded.json, expires_at = excluded.expires_at`,
    deleteExpiredPreviews: `DELETE FROM ${T.previews} WHERE expires_at <= $1`,
    usage: `SELECT bytes, count FROM ${T.usage} WHERE user_id = $1`,
  } as const;
  type Statement = keyof typeof SQL;

  let migrated: Promise<MigrationResult> | undefined;
  let ready = false;

  async function ensureReady(): Promise<void> {
    if (!ready) await store.migrate();
  }

  async function run(name: Statement, values: unknown[], client: PgPoolLike | PgClientLike = pool) {
    await ensureReady();
    return client.query(
      prepared
        ? { name: `mmk_${tag}_${name}`, text: SQL[name], values }
        : { text: SQL[name], values },
    );
  }

  /** Single statements that lock several rows can deadlock with each other; PostgreSQL aborts one, which is retried. */
  async function runRetrying(name: Statement, values: unknown[]) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(name, values);
      } catch (err) {
        if (pgCode(err) !== "40P01" || attempt >= 5) throw err;
      }
    }
  }

  async function transaction<R>(fn: (client: PgClientLike) => Promise<R>): Promise<R> {
    await ensureReady();
    const client = await pool.connect();
    try {
      await client.query({ text: "BEGIN" });
      const result = await fn(client);
      await client.query({ text: "COMMIT" });
      client.release();
      return result;
    } catch (err) {
      try {
        await client.query({ text: "ROLLBACK" });
        client.release();
      } catch (rollbackError) {
        client.release(rollbackError instanceof Error ? rollbackError : true);
      }
      throw err;
    }
  }

  async function applyMigrations(): Promise<MigrationResult> {
    const [k1, k2] = migrationLockKey(schema);
    const list = migrations(s);
    const latest = list.at(-1)!.version;
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query({ text: "SELECT pg_advisory_lock($1, $2)", values: [k1, k2] });
      try {
        const ns = await client.query({
          text: "SELECT 1 FROM pg_namespace WHERE nspname = $1",
          values: [schema],
        });
        if (ns.rows.length === 0) await client.query({ text: `CREATE SCHEMA ${s}` });
        await client.query({
          text: `CREATE TABLE IF NOT EXISTS ${T.migrations} (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`,
        });
        const done = new Set(
          (await client.query({ text: `SELECT version FROM ${T.migrations}` })).rows.map((r) =>
            Number((r as Row).version),
          ),
        );
        const newest = Math.max(0, ...done);
        if (newest > latest) {
          throw new Error(
            `postgresMetadataStore: schema ${schema} is at version ${newest}, newer than this ` +
              `matrix-media-kit knows (${latest}); upgrade matrix-media-kit`,
          );
        }
        const applied: number[] = [];
        for (const m of list) {
          if (done.has(m.version)) continue;
          await client.query({ text: "BEGIN" });
          try {
            await client.query({ text: m.sql });
            await client.query({
              text: `INSERT INTO ${T.migrations} (version, name) VALUES ($1, $2)`,
              values: [m.version, m.name],
            });
            await client.query({ text: "COMMIT" });
          } catch (err) {
            await client.query({ text: "ROLLBACK" });
            throw err;
          }
          applied.push(m.version);
        }
        publishMigrate(`postgres:${schema}`, applied, latest);
        return { applied, version: latest };
      } finally {
        await client.query({ text: "SELECT pg_advisory_unlock($1, $2)", values: [k1, k2] });
      }
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // A connection that failed mid-migration may still hold the lock: destroy it.
      client.release(broken);
    }
  }

  const store: PostgresMetadataStore = {
    schema,

    migrate() {
      if (!migrated) {
        migrated = applyMigrations().then(
          (result) => {
            ready = true;
            return result;
          },
          (err: unknown) => {
            migrated = undefined;
            throw err;
          },
        );
      }
      return migrated;
    },

    async insertMedia(record) {
      const r = checkMediaRecord(record);
      const { rows } = await run("insertMedia", mediaValues(r));
      if ((rows[0] as Row).n === 0) throw cannotOverwrite(r.origin, r.mediaId);
    },

    async getMedia(origin, mediaId) {
      checkKey(origin, mediaId);
      const { rows } = await run("getMedia", [origin, mediaId]);
      return rows.length === 0 ? undefined : toMedia(rows[0] as Row);
    },

    async getMediaBySha256(sha256) {
      checkSha256(sha256);
      const { rows } = await run("bySha256", [sha256]);
      return rows.map((r) => toMedia(r as Row));
    },

    async listMediaByUploader(uploader, options = {}) {
      checkString(uploader, "uploader");
      const limit = checkLimit(options.limit);
      const after = decodeCursor(options.cursor);
      const { rows } = after
        ? await run("byUploaderAfter", [
            uploader,
            limit + 1,
            after.createdAt,
            after.origin,
            after.mediaId,
          ])
        : await run("byUploader", [uploader, limit + 1]);
      const items = rows.slice(0, limit).map((r) => toMedia(r as Row));
      const last = items.at(-1);
      return rows.length > limit && last ? { items, nextCursor: encodeCursor(last) } : { items };
    },

    async listRemoteMediaAccessedBefore(before, options = {}) {
      checkTime(before, "before");
      const limit = checkLimit(options.limit);
      const { rows } = await run("remoteBefore", [before, limit]);
      return rows.map((r) => toMedia(r as Row));
    },

    async touchMedia(accesses) {
      const list = checkAccesses(accesses);
      for (let i = 0; i < list.length; i += 5000) {
        const chunk = list.slice(i, i + 5000);
        await runRetrying("touch", [
          chunk.map((a) => a.origin),
          chunk.map((a) => a.mediaId),
          chunk.map((a) => a.at),
        ]);
      }
    },

    async deleteMedia(origin, mediaId) {
      checkKey(origin, mediaId);
      const { rows } = await run("deleteMedia", [origin, mediaId]);
      const row = rows[0] as { media: Row | null; thumbnails: Row[] };
      if (!row.media) return undefined;
      return { media: toMedia(row.media), thumbnails: row.thumbnails.map(toThumbnail) };
    },

    async setProtected(origin, mediaId, value) {
      checkKey(origin, mediaId);
      checkBoolean(value, "protected");
      const { rowCount } = await run("setProtected", [origin, mediaId, value]);
      return (rowCount ?? 0) > 0;
    },

    async quarantine(target, value = true): Promise<QuarantineResult> {
      const t = checkTarget(target);
      checkBoolean(value, "value");
      const { rows } =
        "sha256" in t
          ? await runRetrying("quarantineSha", [t.sha256, value])
          : "uploader" in t
            ? await runRetrying("quarantineUploader", [t.uploader, value])
            : t.mxcs.length === 0
              ? { rows: [] }
              : await runRetrying("quarantineMxcs", [
                  t.mxcs.map((m) => m.origin),
                  t.mxcs.map((m) => m.mediaId),
                  value,
                ]);
      const affected = rows.map((r) => {
        const row = r as Row;
        return {
          origin: row.origin as string,
          mediaId: row.media_id as string,
          sha256: row.sha256 as string,
        };
      });
      publishQuarantine(`postgres:${schema}`, value, affected);
      return { affected };
    },

    async createPending(p, options = {}) {
      const entry = checkPending(p);
      const max = checkMaxPending(options.maxPendingPerUser);
      const values = [entry.origin, entry.mediaId, entry.creator, entry.createdAt, entry.expiresAt];
      let inserted: number;
      if (max === undefined) {
        inserted = (await run("insertPending", values)).rowCount ?? 0;
      } else {
        // The per-creator advisory lock serialises concurrent creates of one user, so
        // "count, then insert" cannot let two of them both see room for one more.
        inserted = await transaction(async (client) => {
          await run("lockCreator", [pendingLockClass, entry.creator], client);
          const { rows } = await run("countPending", [entry.creator, entry.createdAt], client);
          if (((rows[0] as Row).n as number) >= max) throw pendingLimit(entry.creator, max);
          return (await run("insertPending", values, client)).rowCount ?? 0;
        });
      }
      if (inserted === 0) throw cannotOverwrite(entry.origin, entry.mediaId);
    },

    async getPending(origin, mediaId): Promise<PendingUpload | undefined> {
      checkKey(origin, mediaId);
      const { rows } = await run("getPending", [origin, mediaId]);
      const r = rows[0] as Row | undefined;
      return (
        r && {
          origin: r.origin as string,
          mediaId: r.media_id as string,
          creator: r.creator as string,
          createdAt: Number(r.created_at),
          expiresAt: Number(r.expires_at),
        }
      );
    },

    async completePending(record, now) {
      const r = checkMediaRecord(record);
      checkTime(now, "now");
      let n: number;
      try {
        const { rows } = await run("completePending", [...mediaValues(r), now]);
        n = (rows[0] as Row).n as number;
      } catch (err) {
        // The pending row was there but the media ID is taken: nothing was changed.
        if (pgCode(err) === "23505") throw cannotOverwrite(r.origin, r.mediaId);
        throw err;
      }
      if (n === 1) return;
      // Lost the race (the winner deleted the pending row first) or nothing was pending.
      // This statement sees the winner's commit.
      const { rows } = await run("exists", [r.origin, r.mediaId]);
      if (rows.length > 0) throw cannotOverwrite(r.origin, r.mediaId);
      throw pendingNotFound(r.origin, r.mediaId);
    },

    async deleteExpiredPending(now) {
      checkTime(now, "now");
      return (await run("deleteExpiredPending", [now])).rowCount ?? 0;
    },

    async putThumbnail(thumbnail) {
      const t = checkThumbnail(thumbnail);
      await run("putThumbnail", [
        t.origin,
        t.mediaId,
        t.width,
        t.height,
        t.method,
        t.animated,
        t.contentType,
        t.size,
        t.sha256,
        t.datastoreId,
        t.location,
        t.createdAt,
      ]);
    },

    async getThumbnails(origin, mediaId) {
      checkKey(origin, mediaId);
      const { rows } = await run("getThumbnails", [origin, mediaId]);
      return rows.map((r) => toThumbnail(r as Row));
    },

    async getPreview(url, bucket, language): Promise<PreviewCacheEntry | undefined> {
      checkString(url, "url");
      checkTime(bucket, "bucket");
      checkString(language, "language", { empty: true });
      const { rows } = await run("getPreview", [url, bucket, language]);
      const r = rows[0] as Row | undefined;
      return (
        r && {
          url: r.url as string,
          bucket: Number(r.bucket),
          language: r.language as string,
          json: r.json as string,
          expiresAt: Number(r.expires_at),
        }
      );
    },

    async putPreview(entry) {
      const e = checkPreview(entry);
      await run("putPreview", [e.url, e.bucket, e.language, e.json, e.expiresAt]);
    },

    async deleteExpiredPreviews(now) {
      checkTime(now, "now");
      return (await run("deleteExpiredPreviews", [now])).rowCount ?? 0;
    },

    async getUsage(userId) {
      checkString(userId, "userId");
      const { rows } = await run("usage", [userId]);
      const r = rows[0] as Row | undefined;
      return r ? { bytes: Number(r.bytes), count: Number(r.count) } : { bytes: 0, count: 0 };
    },

    async close() {
      // The pool is the caller's: nothing of ours to release.
    },
  };
  return store;
}
