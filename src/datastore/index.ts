/**
 * Datastores: where media bytes live. One small streaming contract ({@link Datastore}),
 * a filesystem driver, an S3 driver, per-kind routing, verified migration and a bounded
 * read-through local cache.
 *
 * Keys are content-addressed: the lower-case hex SHA-256 of the bytes, computed while
 * streaming. A second put of the same bytes returns the same key and stores nothing new.
 * Keys are validated on every call (`M_INVALID_PARAM` otherwise), so no caller-supplied
 * string can reach a path or an object key outside the store.
 *
 * @example
 * ```ts
 * import { fsDatastore } from "matrix-media-kit/datastore";
 * const store = fsDatastore({ root: "./data/media" });
 * const { key, size, sha256 } = await store.put(Buffer.from("hello"));
 * ```
 *
 * @module
 */
export type {
  ByteRange,
  Datastore,
  DatastoreCapabilities,
  DatastoreEntry,
  DatastoreGetResult,
  DatastorePutOptions,
  DatastorePutResult,
} from "./types.js";
export type { MediaKind } from "../mxc.js";
export { fsDatastore, DEFAULT_FS_DATASTORE_OPTIONS } from "./fs.js";
export type { FsDatastore, FsDatastoreOptions } from "./fs.js";
export { s3Datastore } from "./s3/datastore.js";
export { DEFAULT_S3_DATASTORE_OPTIONS } from "./s3/options.js";
export type { S3Datastore } from "./s3/datastore.js";
export type { S3DatastoreOptions } from "./s3/options.js";
export { routeByKind } from "./route.js";
export type { DatastoreRouter, DatastoreRoutes, RoutedPutResult } from "./route.js";
export { migrateDatastore, DEFAULT_MIGRATE_OPTIONS } from "./migrate.js";
export type { MigrateDatastoreOptions, MigrationProgress, MigrationReport } from "./migrate.js";
export { cachedDatastore } from "./cached.js";
export type {
  CachedDatastore,
  CachedDatastoreOptions,
  CachedDatastoreStats,
  CachedDatastoreTrim,
} from "./cached.js";
export { isDatastoreKey } from "./internal.js";
