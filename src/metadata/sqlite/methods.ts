// The SQLite backend's methods, over an explicit state: the synchronous better-sqlite3
// handle, its prepared statements and whether it is closed. Every write is a `BEGIN
// IMMEDIATE` transaction, so its reads cannot go stale under another process's write.
import type Database from "better-sqlite3";
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
import { publishMigrate } from "../diagnostics.js";
import { cannotOverwrite, pendingLimit, pendingNotFound } from "../errors.js";
import { compareThumbnails, type UploaderCursor } from "../order.js";
import { MEDIA_COLUMNS } from "../sql/columns.js";
import { rowCodec, type Row } from "../sql/codec.js";
import { sqliteDialect as dialect } from "../sql/dialect.js";
import type { MediaRecord, MigrationResult, PendingUpload, QuarantineResult } from "../types.js";
import type { NormalTarget } from "../validate.js";
import { applyMigrations } from "./migrations.js";
import { prepareStatements, type SqliteStatements } from "./statements.js";

const codec = rowCodec(dialect);

/** @internal */
export interface SqliteState {
  readonly db: Database.Database;
  readonly file: string;
  /** Prepared once the schema is migrated. */
  statements: SqliteStatements | undefined;
  /** Statements built per query (the admin orders), prepared once each. */
  readonly built: Map<string, Database.Statement>;
  migration: MigrationResult | undefined;
  closed: boolean;
}

/** @internal */
export function sqliteState(db: Database.Database, file: string): SqliteState {
  return { db, file, statements: undefined, built: new Map(), migration: undefined, closed: false };
}

function assertOpen(state: SqliteState): void {
  if (state.closed) throw new Error("sqliteMetadataStore: the store is closed");
}

function migrate(state: SqliteState): MigrationResult {
  if (state.migration) return state.migration;
  const result = applyMigrations(state.db, state.file);
  state.statements = prepareStatements(state.db);
  state.migration = result;
  publishMigrate(`sqlite:${state.file}`, result.applied, result.version);
  return result;
}

/** The statements of an open store, migrating first if nobody did. */
function prepared(state: SqliteState): SqliteStatements {
  assertOpen(state);
  if (!state.statements) migrate(state);
  return state.statements!;
}

/** A write transaction that takes the write lock first, so its reads cannot go stale. */
function write<R>(state: SqliteState, work: (statements: SqliteStatements) => R): R {
  const statements = prepared(state);
  return state.db.transaction(() => work(statements)).immediate();
}

function addUsage(statements: SqliteStatements, record: MediaRecord, sign: 1 | -1): void {
  if (record.kind === "local" && record.uploader !== null) {
    statements.addUsage.run(record.uploader, sign * record.size, sign);
  }
}

function insertWithUsage(statements: SqliteStatements, record: MediaRecord): boolean {
  if (statements.insertMedia.run(...codec.fromMedia(record)).changes === 0) return false;
  addUsage(statements, record, 1);
  return true;
}

function listMediaByUploader(
  state: SqliteState,
  uploader: string,
  after: UploaderCursor | undefined,
  count: number,
): MediaRecord[] {
  const statements = prepared(state);
  const rows = (
    after
      ? statements.byUploaderAfter.all(
          uploader,
          after.createdAt,
          after.origin,
          after.mediaId,
          count,
        )
      : statements.byUploader.all(uploader, count)
  ) as Row[];
  return rows.map(codec.toMedia);
}

function deleteMedia(state: SqliteState, origin: string, mediaId: string) {
  return write(state, (statements) => {
    const row = statements.deleteMedia.get(origin, mediaId) as Row | undefined;
    if (!row) return undefined;
    const media = codec.toMedia(row);
    const thumbnails = (statements.deleteThumbnails.all(origin, mediaId) as Row[])
      .map(codec.toThumbnail)
      .sort(compareThumbnails);
    addUsage(statements, media, -1);
    return { media, thumbnails };
  });
}

/** The hashes a target names: quarantine follows the bytes to every record sharing them. */
function hashesOf(statements: SqliteStatements, target: NormalTarget): Set<string> {
  if ("sha256" in target) return new Set([target.sha256]);
  const hashes = new Set<string>();
  if ("uploader" in target) {
    for (const row of statements.uploaderHashes.all(target.uploader) as Row[]) {
      hashes.add(row.sha256 as string);
    }
    return hashes;
  }
  for (const mxc of target.mxcs) {
    const row = statements.hashOf.get(mxc.origin, mxc.mediaId) as Row | undefined;
    if (row) hashes.add(row.sha256 as string);
  }
  return hashes;
}

function quarantine(state: SqliteState, target: NormalTarget, value: boolean) {
  return write(state, (statements) => {
    const affected: QuarantineResult["affected"] = [];
    for (const sha256 of hashesOf(statements, target)) {
      const rows = statements.quarantineSha.all({ value: dialect.toBoolean(value), sha256 });
      for (const row of rows as Row[]) affected.push(codec.toAffected(row));
    }
    return affected;
  });
}

function createPending(state: SqliteState, pending: PendingUpload, max: number | undefined) {
  return write(state, (statements) => {
    if (max !== undefined) {
      const { n } = statements.countPending.get(pending.creator, pending.createdAt) as Row;
      if (Number(n) >= max) throw pendingLimit(pending.creator, max);
    }
    const values = codec.fromPendingForInsert(pending);
    return statements.insertPending.run(...values).changes > 0;
  });
}

function completePending(state: SqliteState, record: MediaRecord, now: number): void {
  write(state, (statements) => {
    if (statements.takePending.run(record.origin, record.mediaId, now).changes === 0) {
      if (statements.exists.get(record.origin, record.mediaId)) {
        throw cannotOverwrite(record.origin, record.mediaId);
      }
      throw pendingNotFound(record.origin, record.mediaId);
    }
    // Throwing rolls the pending row back too.
    if (!insertWithUsage(statements, record)) throw cannotOverwrite(record.origin, record.mediaId);
  });
}

function runBuilt(state: SqliteState, statement: BoundStatement): Row[] {
  prepared(state);
  let compiled = state.built.get(statement.text);
  if (!compiled) state.built.set(statement.text, (compiled = state.db.prepare(statement.text)));
  return compiled.all(...statement.values) as Row[];
}

function counted<T>(
  state: SqliteState,
  page: BoundStatement,
  count: BoundStatement,
  map: (row: Row) => T,
): CountedPage<T> {
  const rows = runBuilt(state, page);
  const total =
    rows.length > 0 ? Number(rows[0]!.total_count) : Number(runBuilt(state, count)[0]!.n);
  return { items: rows.map(map), total };
}

/** @internal The backend of `sqliteMetadataStore`. */
export function sqliteBackend(state: SqliteState): MetadataBackend {
  const media = (row: unknown) => (row === undefined ? undefined : codec.toMedia(row as Row));
  const mediaList = (rows: unknown[]) => (rows as Row[]).map(codec.toMedia);
  const writeChanges = (work: (statements: SqliteStatements) => Database.RunResult) =>
    write(state, work).changes;
  return {
    insertMedia: (record) => write(state, (statements) => insertWithUsage(statements, record)),
    getMedia: (origin, mediaId) => media(prepared(state).getMedia.get(origin, mediaId)),
    getMediaBySha256: (sha256) => mediaList(prepared(state).bySha256.all(sha256)),
    listMediaByUploader: (uploader, after, count) =>
      listMediaByUploader(state, uploader, after, count),
    listRemoteMediaAccessedBefore: (before, limit) =>
      mediaList(prepared(state).remoteBefore.all(before, limit)),
    touchMedia: (accesses: MediaAccess[]) =>
      write(state, (statements) => {
        for (const access of accesses) {
          statements.touch.run(access.at, access.origin, access.mediaId, access.at);
        }
      }),
    deleteMedia: (origin, mediaId) => deleteMedia(state, origin, mediaId),
    setProtected: (origin, mediaId, value) =>
      writeChanges((statements) =>
        statements.setProtected.run(dialect.toBoolean(value), origin, mediaId),
      ) > 0,
    quarantine: (target, value) => quarantine(state, target, value),
    createPending: (pending, max) => createPending(state, pending, max),
    getPending: (origin, mediaId) => {
      const row = prepared(state).getPending.get(origin, mediaId) as Row | undefined;
      return row && codec.toPending(row);
    },
    completePending: (record, now) => completePending(state, record, now),
    deleteExpiredPending: (now) =>
      writeChanges((statements) => statements.deleteExpiredPending.run(now)),
    putThumbnail: (thumbnail) =>
      write(state, (statements) => statements.putThumbnail.run(...codec.fromThumbnail(thumbnail))),
    getThumbnails: (origin, mediaId) =>
      (prepared(state).getThumbnails.all(origin, mediaId) as Row[]).map(codec.toThumbnail),
    // --- Background jobs: orphan blob collection ---
    getThumbnailsBySha256: (sha256) =>
      (prepared(state).thumbnailsBySha256.all(sha256) as Row[]).map(codec.toThumbnail),
    getPreview: (url, bucket, language) => {
      const row = prepared(state).getPreview.get(url, bucket, language) as Row | undefined;
      return row && codec.toPreview(row);
    },
    putPreview: (entry) =>
      write(state, (statements) => statements.putPreview.run(...codec.fromPreview(entry))),
    deleteExpiredPreviews: (now) =>
      writeChanges((statements) => statements.deleteExpiredPreviews.run(now)),
    getUsage: (userId) => {
      const row = prepared(state).usage.get(userId) as Row | undefined;
      return codec.toUsage(row);
    },
    pageMediaByUploader: (uploader, query) =>
      counted(
        state,
        uploaderPageStatement(dialect, "mmk_media", MEDIA_COLUMNS, uploader, query),
        uploaderCountStatement(dialect, "mmk_media", uploader),
        codec.toMedia,
      ),
    listExpiredLocalMedia: (query) =>
      mediaList(runBuilt(state, expiredLocalStatement(dialect, "mmk_media", MEDIA_COLUMNS, query))),
    getUserMediaStatistics: (query) =>
      counted(
        state,
        statisticsStatement(dialect, "mmk_media", query),
        statisticsCountStatement(dialect, "mmk_media", query),
        toStatistics,
      ),
    migrate: async () => {
      assertOpen(state);
      return migrate(state);
    },
    close: () => {
      if (state.closed) return;
      state.closed = true;
      state.db.close();
    },
  };
}
