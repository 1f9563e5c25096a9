// The filesystem driver: content-addressed files under sharded directories.
import { constants } from "node:fs";
import {
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  unlink,
  type FileHandle,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { addAbortSignal } from "node:stream";
import { randomBytes } from "node:crypto";
import { MediaError } from "../errors.js";
import {
  assertKey,
  assertPutOptions,
  datastoreChannel,
  errno,
  HashingSource,
  KEY_PATTERN,
  notFound,
  resolveRange,
  validateId,
} from "./internal.js";
import type {
  ByteRange,
  Datastore,
  DatastoreEntry,
  DatastoreGetResult,
  DatastorePutOptions,
  DatastorePutResult,
} from "./types.js";

/** Chunk size of blob reads. */
const READ_CHUNK_BYTES = 1024 * 1024;

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

const TMP_DIR = ".tmp";
const WRITE_BATCH = 1 << 20;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === "EPERM";
  }
}

/**
 * A datastore on a local (or shared) filesystem.
 *
 * Layout: `root/ab/cd/abcd…` where the file name is the blob's SHA-256. A put streams into
 * `root/.tmp/<host>.<pid>.<random>.tmp` (same filesystem), fsyncs it, then renames it into
 * place, so no partial blob is ever visible under a key; concurrent puts of the same bytes
 * rename identical files onto the same name. Temporary files are removed on error or abort,
 * and those of crashed processes are swept at start.
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
  if (typeof options?.root !== "string" || options.root.length === 0) {
    throw new TypeError(
      `Expected root to be a non-empty directory path but received ${JSON.stringify(options?.root)}`,
    );
  }
  const id = validateId(options.id ?? DEFAULT_FS_DATASTORE_OPTIONS.id);
  const readOnly = options.readOnly ?? DEFAULT_FS_DATASTORE_OPTIONS.readOnly;
  const fsync = options.fsync ?? DEFAULT_FS_DATASTORE_OPTIONS.fsync;
  const staleTempMs = options.staleTempMs ?? DEFAULT_FS_DATASTORE_OPTIONS.staleTempMs;
  if (!Number.isSafeInteger(staleTempMs) || staleTempMs < 0) {
    throw new TypeError(
      `Expected staleTempMs to be a non-negative integer but received ${String(staleTempMs)}`,
    );
  }
  const now = options.now ?? Date.now;
  const root = path.resolve(options.root);
  const tmpDir = path.join(root, TMP_DIR);
  const host = os.hostname().replace(/[^A-Za-z0-9-]/g, "_");
  let realRoot = root;
  let readyPromise: Promise<void> | undefined;

  function ready(): Promise<void> {
    readyPromise ??= (async () => {
      if (readOnly) {
        // A read-only store may sit on a read-only filesystem: create and sweep nothing.
        realRoot = await realpath(root);
        return;
      }
      await mkdir(tmpDir, { recursive: true });
      realRoot = await realpath(root);
      await sweep();
    })().catch((err: unknown) => {
      readyPromise = undefined;
      throw err;
    });
    return readyPromise;
  }

  async function sweep(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(tmpDir);
    } catch (err) {
      if (errno(err) === "ENOENT") return 0;
      throw err;
    }
    let removed = 0;
    for (const name of names) {
      const file = path.join(tmpDir, name);
      const parts = /^(.+)\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
      let stale = false;
      if (parts && parts[1] === host && Number(parts[2]) !== process.pid) {
        stale = !isAlive(Number(parts[2]));
      }
      if (!stale) {
        const st = await lstat(file).catch(() => undefined);
        if (!st) continue;
        stale =
          now() - st.mtimeMs > staleTempMs &&
          !(parts && Number(parts[2]) === process.pid && parts[1] === host);
      }
      if (stale) {
        await unlink(file).then(
          () => removed++,
          () => undefined,
        );
      }
    }
    if (removed > 0) datastoreChannel.publish({ datastore: id, op: "sweep", removed });
    return removed;
  }

  function relPath(key: string): string {
    return path.join(key.slice(0, 2), key.slice(2, 4), key);
  }

  /** The blob's path, after checking no directory on the way is a link out of the root. */
  async function blobPath(key: string): Promise<string | undefined> {
    assertKey(key, id);
    await ready();
    const file = path.join(realRoot, relPath(key));
    let dir: string;
    try {
      dir = await realpath(path.dirname(file));
    } catch (err) {
      if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return undefined;
      throw err;
    }
    if (dir !== path.dirname(file)) {
      throw new MediaError(
        "M_NOT_FOUND",
        `Blob ${key} not found in datastore "${id}" (its directory leaves the root)`,
      );
    }
    return file;
  }

  function refuseReadOnly(op: string): void {
    if (readOnly) {
      throw new MediaError(
        "M_FORBIDDEN",
        `Datastore "${id}" is read-only: ${op} refused (readOnly)`,
      );
    }
  }

  async function writeAll(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
    if (chunks.length === 0) return;
    let pending = chunks;
    for (;;) {
      const total = pending.reduce((n, c) => n + c.byteLength, 0);
      const { bytesWritten } = await handle.writev(pending);
      if (bytesWritten >= total) return;
      // Partial write: drop what was written and retry the rest.
      let skip = bytesWritten;
      const rest: Uint8Array[] = [];
      for (const c of pending) {
        if (skip >= c.byteLength) {
          skip -= c.byteLength;
          continue;
        }
        rest.push(skip > 0 ? c.subarray(skip) : c);
        skip = 0;
      }
      pending = rest;
    }
  }

  async function put(
    source: AsyncIterable<Uint8Array> | Uint8Array,
    putOptions: DatastorePutOptions = {},
  ): Promise<DatastorePutResult> {
    refuseReadOnly("put");
    assertPutOptions(putOptions);
    await ready();
    const started = performance.now();
    const tmp = path.join(tmpDir, `${host}.${process.pid}.${randomBytes(8).toString("hex")}.tmp`);
    const hashing = new HashingSource(source, putOptions.maxBytes, putOptions.signal);
    let handle: FileHandle | undefined = await open(tmp, "wx", 0o644);
    try {
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      for await (const chunk of hashing) {
        batch.push(chunk);
        batchBytes += chunk.byteLength;
        if (batchBytes >= WRITE_BATCH) {
          await writeAll(handle, batch);
          batch = [];
          batchBytes = 0;
        }
      }
      await writeAll(handle, batch);
      if (fsync) await handle.sync();
      await handle.close();
      handle = undefined;
      const sha256 = hashing.digest();
      const final = path.join(realRoot, relPath(sha256));
      const existing = await lstat(final).catch(() => undefined);
      if (existing?.isFile() && existing.size === hashing.size) {
        await unlink(tmp).catch(() => undefined);
      } else {
        await mkdir(path.dirname(final), { recursive: true });
        await rename(tmp, final);
        if (fsync) {
          const dir = await open(path.dirname(final), constants.O_RDONLY);
          await dir.sync().finally(() => dir.close());
        }
      }
      datastoreChannel.publish({
        datastore: id,
        op: "put",
        key: sha256,
        size: hashing.size,
        durationMs: performance.now() - started,
        deduplicated: Boolean(existing),
      });
      return { key: sha256, size: hashing.size, sha256 };
    } catch (err) {
      await handle?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  async function get(
    key: string,
    getOptions: { range?: ByteRange; signal?: AbortSignal } = {},
  ): Promise<DatastoreGetResult> {
    const file = await blobPath(key);
    if (!file) throw notFound(key, id);
    let handle: FileHandle;
    try {
      handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if (errno(err) === "ENOENT" || errno(err) === "ELOOP" || errno(err) === "ENOTDIR") {
        throw notFound(key, id, err);
      }
      throw err;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw notFound(key, id);
      const size = st.size;
      const range = getOptions.range ? resolveRange(getOptions.range, size) : undefined;
      getOptions.signal?.throwIfAborted();
      // Large reads: the default 64 KiB chunks halve throughput (measured 505 vs 1,198 MiB/s
      // on a 128 MiB blob); small blobs and ranges never allocate more than they read.
      const length = range ? range.end - range.start + 1 : size;
      const highWaterMark = Math.max(1, Math.min(READ_CHUNK_BYTES, length));
      const stream = range
        ? handle.createReadStream({ start: range.start, end: range.end, highWaterMark })
        : handle.createReadStream({ highWaterMark });
      if (getOptions.signal) addAbortSignal(getOptions.signal, stream);
      return range ? { stream, size, range } : { stream, size };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  async function head(key: string): Promise<{ size: number } | undefined> {
    const file = await blobPath(key);
    if (!file) return undefined;
    const st = await lstat(file).catch((err: unknown) => {
      if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return undefined;
      throw err;
    });
    return st?.isFile() ? { size: st.size } : undefined;
  }

  async function del(key: string): Promise<void> {
    assertKey(key, id);
    refuseReadOnly("delete");
    const file = await blobPath(key);
    if (!file) return;
    await unlink(file).catch((err: unknown) => {
      if (errno(err) !== "ENOENT") throw err;
    });
    datastoreChannel.publish({ datastore: id, op: "delete", key });
  }

  async function* list(listOptions: { signal?: AbortSignal } = {}): AsyncIterable<DatastoreEntry> {
    await ready();
    const hex2 = /^[0-9a-f]{2}$/;
    const level = async (dir: string): Promise<string[]> =>
      (await readdir(dir, { withFileTypes: true }).catch(() => []))
        .filter((d) => d.isDirectory() && hex2.test(d.name))
        .map((d) => d.name)
        .sort();
    for (const a of await level(realRoot)) {
      for (const b of await level(path.join(realRoot, a))) {
        listOptions.signal?.throwIfAborted();
        const dir = path.join(realRoot, a, b);
        const files = await readdir(dir, { withFileTypes: true }).catch(() => []);
        for (const f of files.sort((x, y) => (x.name < y.name ? -1 : 1))) {
          if (!f.isFile() || !KEY_PATTERN.test(f.name) || !f.name.startsWith(a + b)) continue;
          const st = await lstat(path.join(dir, f.name)).catch(() => undefined);
          if (st?.isFile()) yield { key: f.name, size: st.size, lastModified: st.mtime };
        }
      }
    }
  }

  return {
    id,
    root,
    capabilities: { list: true, url: false, readOnly },
    put,
    get,
    head,
    delete: del,
    list,
    sweep: async () => {
      if (readOnly) return 0;
      await mkdir(tmpDir, { recursive: true });
      return sweep();
    },
    dispose: async () => undefined,
  };
}
