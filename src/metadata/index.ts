/**
 * Where media metadata lives: the {@link MetadataStore} contract, an in-memory store and a
 * PostgreSQL store on an injected `pg` pool. The embedded SQLite store is in
 * `matrix-media-kit/metadata/sqlite` so that this entry never loads a native addon; this
 * entry does not load `pg` either (the pool is passed in).
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { postgresMetadataStore } from "matrix-media-kit/metadata";
 *
 * const metadata = postgresMetadataStore({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) });
 * await metadata.migrate();
 * const record = await metadata.getMedia("example.org", "abc123");
 * ```
 *
 * @module
 */
export type {
  CountedPage,
  ExpiredCursor,
  ExpiredLocalMediaQuery,
  MediaRecord,
  MediaRecordKind,
  MetadataStore,
  MigrationResult,
  Page,
  PendingUpload,
  PreviewCacheEntry,
  QuarantineResult,
  QuarantineTarget,
  SortDirection,
  ThumbnailRecord,
  UploaderMediaOrder,
  UploaderMediaQuery,
  UsageStats,
  UserMediaOrder,
  UserMediaStatistics,
  UserMediaStatisticsQuery,
} from "./types.js";
export type { MxcUri } from "../mxc.js";
export { DEFAULT_METADATA_LIMITS } from "./validate.js";
export { METADATA_CHANNELS } from "./diagnostics.js";
export { memoryMetadataStore } from "./memory.js";
export {
  DEFAULT_POSTGRES_METADATA_OPTIONS,
  postgresMetadataStore,
  type PgClientLike,
  type PgPoolLike,
  type PgQueryConfig,
  type PgQueryResult,
  type PostgresMetadataStore,
  type PostgresMetadataStoreOptions,
} from "./postgres.js";
