// Reads, heads, deletes and listings of an fs datastore; none follows a link out of the root.
import { constants } from "node:fs";
import { lstat, open, readdir, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { addAbortSignal } from "node:stream";
import { blobPath, ready, type FsState } from "./fs-state.js";
import {
  assertKey,
  datastoreChannel,
  errno,
  KEY_PATTERN,
  notFound,
  refuseReadOnly,
  resolveRange,
} from "./internal.js";
import type { ByteRange, DatastoreEntry, DatastoreGetResult } from "./types.js";

/** Chunk size of blob reads. */
const READ_CHUNK_BYTES = 1024 * 1024;

async function openBlob(state: FsState, key: string): Promise<FileHandle> {
  const file = await blobPath(state, key);
  if (!file) throw notFound(key, state.id);
  try {
    return await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errno(err) === "ENOENT" || errno(err) === "ELOOP" || errno(err) === "ENOTDIR") {
      throw notFound(key, state.id, err);
    }
    throw err;
  }
}

/** @internal */
export async function fsGet(
  state: FsState,
  key: string,
  options: { range?: ByteRange; signal?: AbortSignal } = {},
): Promise<DatastoreGetResult> {
  const handle = await openBlob(state, key);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notFound(key, state.id);
    const size = st.size;
    const range = options.range ? resolveRange(options.range, size) : undefined;
    options.signal?.throwIfAborted();
    // Large reads: the default 64 KiB chunks halve throughput (measured 505 vs 1,198 MiB/s
    // on a 128 MiB blob); small blobs and ranges never allocate more than they read.
    const length = range ? range.end - range.start + 1 : size;
    const highWaterMark = Math.max(1, Math.min(READ_CHUNK_BYTES, length));
    const stream = range
      ? handle.createReadStream({ start: range.start, end: range.end, highWaterMark })
      : handle.createReadStream({ highWaterMark });
    if (options.signal) addAbortSignal(options.signal, stream);
    return range ? { stream, size, range } : { stream, size };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/** @internal */
export async function fsHead(state: FsState, key: string): Promise<{ size: number } | undefined> {
  const file = await blobPath(state, key);
  if (!file) return undefined;
  const st = await lstat(file).catch((err: unknown) => {
    if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return undefined;
    throw err;
  });
  return st?.isFile() ? { size: st.size } : undefined;
}

/** @internal */
export async function fsDelete(state: FsState, key: string): Promise<void> {
  assertKey(key, state.id);
  refuseReadOnly(state, "delete");
  const file = await blobPath(state, key);
  if (!file) return;
  await unlink(file).catch((err: unknown) => {
    if (errno(err) !== "ENOENT") throw err;
  });
  datastoreChannel.publish({ datastore: state.id, op: "delete", key });
}

const HEX2 = /^[0-9a-f]{2}$/;

/** The sorted two-hex-digit subdirectories of `dir` (a shard level). */
async function shardLevel(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true }).catch(() => []))
    .filter((d) => d.isDirectory() && HEX2.test(d.name))
    .map((d) => d.name)
    .sort();
}

/** @internal */
export async function* fsList(
  state: FsState,
  options: { signal?: AbortSignal } = {},
): AsyncIterable<DatastoreEntry> {
  await ready(state);
  const root = state.realRoot;
  for (const a of await shardLevel(root)) {
    for (const b of await shardLevel(path.join(root, a))) {
      options.signal?.throwIfAborted();
      const dir = path.join(root, a, b);
      const files = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const f of files.sort((x, y) => (x.name < y.name ? -1 : 1))) {
        if (!f.isFile() || !KEY_PATTERN.test(f.name) || !f.name.startsWith(a + b)) continue;
        const st = await lstat(path.join(dir, f.name)).catch(() => undefined);
        if (st?.isFile()) yield { key: f.name, size: st.size, lastModified: st.mtime };
      }
    }
  }
}
