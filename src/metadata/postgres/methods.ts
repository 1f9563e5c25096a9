// The PostgreSQL backend's methods, over an explicit state: the pool, the statements, and
// whether the schema is known to be migrated.
import { createHash } from "node:crypto";
import {
  expiredLocalStatement,
  statisticsCountStatement,
  statisticsStatement,
  toStatistics,
  uploaderCountStatement,
  uploaderPageStatement,
  type BoundStatement,
  type CountedPage,
} from "../admin.js";
import type { MediaAccess, MetadataBackend } from "../checked.js";
import { cannotOverwrite, pendingLimit, pendingNotFound } from "../errors.js";
import type { UploaderCursor } from "../order.js";
import { rowCodec, type Row } from "../sql/codec.js";
import { postgresDialect as dialect } from "../sql/dialect.js";
import { MEDIA_COLUMNS, tables } from "../sql/columns.js";
import type { MediaRecord, MigrationResult, PendingUpload, ThumbnailRecord } from "../types.js";
import type { NormalTarget } from "../validate.js";
import { inTransaction, pgCode, type PgClientLike, type PgPoolLike } from "./client.js";
import { ADVISORY_LOCK_CLASS, applyMigrations } from "./migrations.js";
import { postgresStatements, type PostgresStatement } from "./statements.js";

const codec = rowCodec(dialect);

/** Rows per `touchMedia` statement (three arrays of this length are bound). */
const TOUCH_CHUNK = 5000;
const PENDING_LOCK_CLASS = ADVISORY_LOCK_CLASS + 1;

/** @internal */
export interface PostgresState {
  readonly pool: PgPoolLike;
  readonly schema: string;
  readonly preparedStatements: boolean;
  /** Prepared-statement names are per connection; the schema's hash keeps two stores sharing a pool apart. */
  readonly statementPrefix: string;
  readonly statements: ReturnType<typeof postgresStatements>;
  migration: Promise<MigrationResult> | undefined;
  migrated: boolean;
}

/** @internal */
export function postgresState(
  pool: PgPoolLike,
  schema: string,
  preparedStatements: boolean,
): PostgresState {
  const tag = createHash("sha256").update(schema).digest("hex").slice(0, 8);
  return {
    pool,
    schema,
    preparedStatements,
    statementPrefix: `mmk_${tag}_`,
    statements: postgresStatements(schema),
    migration: undefined,
    migrated: false,
  };
}

/** Migrates once per store; a failed attempt is retried by the next call. */
export function migrate(state: PostgresState): Promise<MigrationResult> {
  state.migration ??= applyMigrations(state.pool, state.schema).then(
    (result) => {
      state.migrated = true;
      return result;
    },
    (err: unknown) => {
      state.migration = undefined;
      throw err;
    },
  );
  return state.migration;
}

async function run(
  state: PostgresState,
  name: PostgresStatement,
  values: unknown[],
  client: PgPoolLike | PgClientLike = state.pool,
) {
  if (!state.migrated) await migrate(state);
  const text = state.statements[name];
  return client.query(
    state.preparedStatements
      ? { name: state.statementPrefix + name, text, values }
      : { text, values },
  );
}

/** A statement built per query (the admin orders), run unnamed. */
async function runBuilt(state: PostgresState, statement: BoundStatement): Promise<Row[]> {
  if (!state.migrated) await migrate(state);
  return (await state.pool.query(statement)).rows as Row[];
}

/** Rows carrying `total_count`, or the count of `count` when a page past the end has none. */
async function counted<T>(
  state: PostgresState,
  page: BoundStatement,
  count: BoundStatement,
  map: (row: Row) => T,
): Promise<CountedPage<T>> {
  const rows = await runBuilt(state, page);
  const total =
    rows.length > 0 ? Number(rows[0]!.total_count) : Number((await runBuilt(state, count))[0]!.n);
  return { items: rows.map(map), total };
}

/** Single statements that lock several rows can deadlock with each other; PostgreSQL aborts one, which is retried. */
async function runRetrying(state: PostgresState, name: PostgresStatement, values: unknown[]) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(state, name, values);
    } catch (err) {
      if (pgCode(err) !== "40P01" || attempt >= 5) throw err;
    }
  }
}

async function first(state: PostgresState, name: PostgresStatement, values: unknown[]) {
  return (await run(state, name, values)).rows[0] as Row | undefined;
}

async function all(state: PostgresState, name: PostgresStatement, values: unknown[]) {
  return (await run(state, name, values)).rows as Row[];
}

async function changed(state: PostgresState, name: PostgresStatement, values: unknown[]) {
  return (await run(state, name, values)).rowCount ?? 0;
}

async function insertMedia(state: PostgresState, record: MediaRecord): Promise<boolean> {
  const row = await first(state, "insertMedia", codec.fromMedia(record));
  return row?.n !== 0;
}

async function listMediaByUploader(
  state: PostgresState,
  uploader: string,
  after: UploaderCursor | undefined,
  count: number,
): Promise<MediaRecord[]> {
  const rows = after
    ? await all(state, "byUploaderAfter", [
        uploader,
        after.createdAt,
        after.origin,
        after.mediaId,
        count,
      ])
    : await all(state, "byUploader", [uploader, count]);
  return rows.map(codec.toMedia);
}

async function touchMedia(state: PostgresState, accesses: MediaAccess[]): Promise<void> {
  for (let start = 0; start < accesses.length; start += TOUCH_CHUNK) {
    const chunk = accesses.slice(start, start + TOUCH_CHUNK);
    await runRetrying(state, "touch", [
      chunk.map((access) => access.origin),
      chunk.map((access) => access.mediaId),
      chunk.map((access) => access.at),
    ]);
  }
}

async function deleteMedia(state: PostgresState, origin: string, mediaId: string) {
  const row = (await first(state, "deleteMedia", [origin, mediaId])) as {
    media: Row | null;
    thumbnails: Row[];
  };
  if (!row.media) return undefined;
  return {
    media: codec.toMedia(row.media),
    thumbnails: row.thumbnails.map(codec.toThumbnail),
  };
}

async function quarantine(state: PostgresState, target: NormalTarget, value: boolean) {
  const { rows } =
    "sha256" in target
      ? await runRetrying(state, "quarantineSha", [target.sha256, value])
      : "uploader" in target
        ? await runRetrying(state, "quarantineUploader", [target.uploader, value])
        : target.mxcs.length === 0
          ? { rows: [] }
          : await runRetrying(state, "quarantineMxcs", [
              target.mxcs.map((mxc) => mxc.origin),
              target.mxcs.map((mxc) => mxc.mediaId),
              value,
            ]);
  return (rows as Row[]).map(codec.toAffected);
}

async function createPending(
  state: PostgresState,
  pending: PendingUpload,
  max: number | undefined,
): Promise<boolean> {
  const values = codec.fromPendingForInsert(pending);
  if (max === undefined) return (await changed(state, "insertPending", values)) > 0;
  if (!state.migrated) await migrate(state);
  // The per-creator advisory lock serialises concurrent creates of one user, so "count,
  // then insert" cannot let two of them both see room for one more.
  return inTransaction(state.pool, async (client) => {
    await run(state, "lockCreator", [PENDING_LOCK_CLASS, pending.creator], client);
    const { rows } = await run(state, "countPending", [pending.creator, pending.createdAt], client);
    if (Number((rows[0] as Row).n) >= max) throw pendingLimit(pending.creator, max);
    return ((await run(state, "insertPending", values, client)).rowCount ?? 0) > 0;
  });
}

async function completePending(
  state: PostgresState,
  record: MediaRecord,
  now: number,
): Promise<void> {
  let completed: number;
  try {
    const row = await first(state, "completePending", [...codec.fromMedia(record), now]);
    completed = row?.n as number;
  } catch (err) {
    // The pending row was there but the media ID is taken: nothing was changed.
    if (pgCode(err) === "23505") throw cannotOverwrite(record.origin, record.mediaId);
    throw err;
  }
  if (completed === 1) return;
  // Lost the race (the winner deleted the pending row first) or nothing was pending.
  // This statement sees the winner's commit.
  if (await first(state, "exists", [record.origin, record.mediaId])) {
    throw cannotOverwrite(record.origin, record.mediaId);
  }
  throw pendingNotFound(record.origin, record.mediaId);
}

async function putThumbnail(state: PostgresState, thumbnail: ThumbnailRecord) {
  await run(state, "putThumbnail", codec.fromThumbnail(thumbnail));
}

/** @internal The backend of `postgresMetadataStore`. */
export function postgresBackend(state: PostgresState): MetadataBackend {
  const media = (row: Row | undefined) => row && codec.toMedia(row);
  const mediaList = (rows: Row[]) => rows.map(codec.toMedia);
  return {
    insertMedia: (record) => insertMedia(state, record),
    getMedia: async (origin, mediaId) => media(await first(state, "getMedia", [origin, mediaId])),
    getMediaBySha256: async (sha256) => mediaList(await all(state, "bySha256", [sha256])),
    listMediaByUploader: (uploader, after, count) =>
      listMediaByUploader(state, uploader, after, count),
    listRemoteMediaAccessedBefore: async (before, limit) =>
      mediaList(await all(state, "remoteBefore", [before, limit])),
    touchMedia: (accesses) => touchMedia(state, accesses),
    deleteMedia: (origin, mediaId) => deleteMedia(state, origin, mediaId),
    setProtected: async (origin, mediaId, value) =>
      (await changed(state, "setProtected", [value, origin, mediaId])) > 0,
    quarantine: (target, value) => quarantine(state, target, value),
    createPending: (pending, max) => createPending(state, pending, max),
    getPending: async (origin, mediaId) => {
      const row = await first(state, "getPending", [origin, mediaId]);
      return row && codec.toPending(row);
    },
    completePending: (record, now) => completePending(state, record, now),
    deleteExpiredPending: (now) => changed(state, "deleteExpiredPending", [now]),
    putThumbnail: (thumbnail) => putThumbnail(state, thumbnail),
    getThumbnails: async (origin, mediaId) =>
      (await all(state, "getThumbnails", [origin, mediaId])).map(codec.toThumbnail),
    // --- Background jobs: orphan blob collection ---
    getThumbnailsBySha256: async (sha256) =>
      (await all(state, "thumbnailsBySha256", [sha256])).map(codec.toThumbnail),
    getPreview: async (url, bucket, language) => {
      const row = await first(state, "getPreview", [url, bucket, language]);
      return row && codec.toPreview(row);
    },
    putPreview: (entry) => run(state, "putPreview", codec.fromPreview(entry)),
    deleteExpiredPreviews: (now) => changed(state, "deleteExpiredPreviews", [now]),
    getUsage: async (userId) => {
      const row = await first(state, "usage", [userId]);
      return codec.toUsage(row);
    },
    pageMediaByUploader: (uploader, query) => {
      const table = tables(state.schema).media;
      return counted(
        state,
        uploaderPageStatement(dialect, table, MEDIA_COLUMNS, uploader, query),
        uploaderCountStatement(dialect, table, uploader),
        codec.toMedia,
      );
    },
    listExpiredLocalMedia: async (query) =>
      mediaList(
        await runBuilt(
          state,
          expiredLocalStatement(dialect, tables(state.schema).media, MEDIA_COLUMNS, query),
        ),
      ),
    getUserMediaStatistics: (query) => {
      const table = tables(state.schema).media;
      return counted(
        state,
        statisticsStatement(dialect, table, query),
        statisticsCountStatement(dialect, table, query),
        toStatistics,
      );
    },
    migrate: () => migrate(state),
    // The pool is the caller's: nothing of ours to release.
    close: () => {},
  };
}
