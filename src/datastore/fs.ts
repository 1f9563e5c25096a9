// The filesystem driver: content-addressed files under sharded directories. Its options
// and wiring; the operations live in fs-put.ts, fs-read.ts and fs-state.ts.
import { mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { fsDelete, fsGet, fsHead, fsList } from "./fs-read.js";
import { fsPut } from "./fs-put.js";
import { sweepTemporaryFiles, type FsState } from "./fs-state.js";
import { observeOp, validateId } from "./internal.js";
import type { Datastore, DatastoreEntry } from "./types.js";

/** Options of {@link fsDatastore}. */
export interface FsDatastoreOptions {
  /** The directory blobs live under (created when missing). */
  root: string;
  /** Recorded in metadata next to each key. @defaultValue `"fs"` */
  id?: string;
  /** Refuse `put`/`delete`; existing blobs stay readable. @defaultValue `false` */
  readOnly?: boolean;
  /** fsync each blob and its directory before a put resolves. @defaultValue `true` */
  fsync?: boolean;
  /**
   * Temporary files of another host (shared filesystems), or whose owner cannot be
   * determined, are swept once older than this. Temporary files of a dead process on this
   * host are swept at once. @defaultValue 86_400_000 (24 h)
   */
  staleTempMs?: number;
  /** The clock used to age temporary files. @defaultValue `Date.now` */
  now?: () => number;
}

/** Defaults of {@link FsDatastoreOptions}. */
export const DEFAULT_FS_DATASTORE_OPTIONS = {
  /** @defaultValue `"fs"` */
  id: "fs",
  /** @defaultValue `false` */
  readOnly: false,
  /** @defaultValue `true` */
  fsync: true,
  /** @defaultValue 24 hours */
  staleTempMs: 86_400_000,
} as const;

/** A filesystem {@link Datastore} with its maintenance hooks. */
export interface FsDatastore extends Datastore {
  /** The absolute root directory. */
  readonly root: string;
  /** Every blob, shard by shard (symlinks and temporary files excluded). */
  list(options?: { signal?: AbortSignal }): AsyncIterable<DatastoreEntry>;
  /**
   * Removes temporary files left by crashed writers (runs once automatically before the
   * first operation). Resolves to the number of files removed.
   */
  sweep(): Promise<number>;
}

/** Where temporary files live, under the root (so a rename into place never crosses filesystems). */
const TMP_DIR = ".tmp";

function createFsState(options: FsDatastoreOptions): FsState {
  if (typeof options?.root !== "string" || options.root.length === 0) {
    throw new ConfigError(
      `fsDatastore: expected options.root to be a non-empty directory path but received ${JSON.stringify(options?.root)}`,
      { option: "root" },
    );
  }
  const id = validateId(options.id ?? DEFAULT_FS_DATASTORE_OPTIONS.id, "id", "fsDatastore");
  const staleTempMs = options.staleTempMs ?? DEFAULT_FS_DATASTORE_OPTIONS.staleTempMs;
  if (!Number.isSafeInteger(staleTempMs) || staleTempMs < 0) {
    throw new ConfigError(
      `fsDatastore: expected options.staleTempMs to be a non-negative integer but received ${String(staleTempMs)}`,
      { option: "staleTempMs" },
    );
  }
  const root = path.resolve(options.root);
  return {
    id,
    root,
    tmpDir: path.join(root, TMP_DIR),
    host: os.hostname().replace(/[^A-Za-z0-9-]/g, "_"),
    readOnly: options.readOnly ?? DEFAULT_FS_DATASTORE_OPTIONS.readOnly,
    fsync: options.fsync ?? DEFAULT_FS_DATASTORE_OPTIONS.fsync,
    staleTempMs,
    now: options.now ?? Date.now,
    realRoot: root,
    started: undefined,
  };
}

/**
 * A datastore on a local (or shared) filesystem.
 *
 * Layout: `root/ab/cd/abcd…` where the file name is the blob's SHA-256. A put streams into
 * `root/.tmp/<host>.<pid>.<process token>.<random>.tmp` (same filesystem), fsyncs it, then renames it into
 * place, so no partial blob is ever visible under a key; concurrent puts of the same bytes
 * rename identical files onto the same name. Temporary files are removed on error or abort,
 * and those of crashed processes are swept at start. Invalid options throw a `ConfigError`
 * naming the option.
 *
 * @example
 * ```ts
 * import { fsDatastore } from "matrix-media-kit/datastore";
 * const store = fsDatastore({ root: "./data/media" });
 * const { key, size, sha256 } = await store.put(Buffer.from("hello"));
 * const { stream } = await store.get(key, { range: { start: 0, end: 1 } }); // "he"
 * ```
 */
export function fsDatastore(options: FsDatastoreOptions): FsDatastore {
  const state = createFsState(options);
  return {
    id: state.id,
    root: state.root,
    capabilities: { list: true, url: false, readOnly: state.readOnly },
    put: (source, putOptions) =>
      observeOp(state.id, "put", () => fsPut(state, source, putOptions), true),
    get: (key, getOptions) => observeOp(state.id, "get", () => fsGet(state, key, getOptions)),
    head: (key) => observeOp(state.id, "head", () => fsHead(state, key)),
    delete: (key) => fsDelete(state, key),
    list: (listOptions) => fsList(state, listOptions),
    sweep: async () => {
      if (state.readOnly) return 0;
      await mkdir(state.tmpDir, { recursive: true });
      return sweepTemporaryFiles(state);
    },
    dispose: async () => undefined,
  };
}
