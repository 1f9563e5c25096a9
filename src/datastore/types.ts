import type { Readable } from "node:stream";

/** What a datastore can do beyond the required methods, declared as data. */
export interface DatastoreCapabilities {
  /** `list()` is implemented (migration, garbage collection). */
  readonly list: boolean;
  /** `url()` is implemented (redirect downloads to the store). */
  readonly url: boolean;
  /** The store refuses `put`/`delete`; existing blobs stay readable. */
  readonly readOnly: boolean;
}

/** Options of {@link Datastore.put}. */
export interface DatastorePutOptions {
  /** Aborts the upload; nothing is left behind. */
  signal?: AbortSignal;
  /** Stored as the blob's content type where the store keeps one (S3). */
  contentType?: string;
  /** Refuse (with `M_TOO_LARGE`) once more than this many bytes arrived. */
  maxBytes?: number;
}

/** What {@link Datastore.put} stored. */
export interface DatastorePutResult {
  /** The key the store chose (content-addressed: derived from `sha256`). */
  key: string;
  /** Bytes stored. */
  size: number;
  /** Lower-case hex SHA-256 of the bytes, computed while streaming. */
  sha256: string;
}

/** An inclusive byte range; `end` defaults to the last byte. */
export interface ByteRange {
  /** First byte, from 0. */
  start: number;
  /** Last byte, inclusive; clamped to the last byte of the blob. */
  end?: number;
}

/** What {@link Datastore.get} returns. */
export interface DatastoreGetResult {
  /** The bytes (only the range, when one was asked for). */
  stream: Readable;
  /** Total size of the blob. */
  size: number;
  /** The inclusive range the stream carries, when a range was asked for. */
  range?: { start: number; end: number };
}

/** One blob, as listed by {@link Datastore.list}. */
export interface DatastoreEntry {
  /** The blob's key, as `put` returned it. */
  key: string;
  /** Bytes stored. */
  size: number;
  /** When the blob was written, where the store knows it (used to rebuild LRU order). */
  lastModified?: Date;
}

/**
 * A store of immutable blobs by key. Implementations: `fsDatastore`, `s3Datastore`,
 * `cachedDatastore` (`routeByKind` chooses among datastores per media kind). Run `describeDatastore()` from
 * `matrix-media-kit/testing` against your own.
 */
export interface Datastore {
  /** A stable identifier, recorded in metadata next to each key. */
  readonly id: string;
  /** What the store can do beyond the required methods. */
  readonly capabilities: DatastoreCapabilities;
  /** Streams bytes in; the blob becomes visible only once complete. */
  put(
    source: AsyncIterable<Uint8Array> | Uint8Array,
    options?: DatastorePutOptions,
  ): Promise<DatastorePutResult>;
  /** Streams a blob (or a range of it) out. Missing key: `MediaError` `M_NOT_FOUND`; range past the end: `M_INVALID_PARAM` with status 416. */
  get(
    key: string,
    options?: { range?: ByteRange; signal?: AbortSignal },
  ): Promise<DatastoreGetResult>;
  /** The blob's size, or `undefined` when it does not exist. */
  head(key: string): Promise<{ size: number } | undefined>;
  /** Removes a blob; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Every blob (present when `capabilities.list`). */
  list?(options?: { signal?: AbortSignal }): AsyncIterable<DatastoreEntry>;
  /** A URL a client may fetch the blob from directly (present when `capabilities.url`). */
  url?(key: string, options?: { expiresIn?: number }): Promise<string | undefined>;
  /** Releases clients, timers and file handles. */
  dispose?(): Promise<void>;
}
