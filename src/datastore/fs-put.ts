// Puts: stream into a temporary file on the same filesystem, fsync, rename into place.
import { constants } from "node:fs";
import { lstat, mkdir, open, rename, unlink, utimes, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { ready, relPath, temporaryName, type FsState } from "./fs-state.js";
import { assertPutOptions, finishPut, HashingSource, refuseReadOnly } from "./internal.js";
import type { DatastorePutOptions, DatastorePutResult } from "./types.js";

/** Bytes gathered before one writev. */
const WRITE_BATCH = 1 << 20;

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

/** Streams every chunk of `hashing` into `handle`, in batches. */
async function writeSource(handle: FileHandle, hashing: HashingSource): Promise<void> {
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
}

/** Moves the complete temporary file to the blob's path; true when the blob was already there. */
async function publish(
  state: FsState,
  tmp: string,
  sha256: string,
  size: number,
): Promise<boolean> {
  const final = path.join(state.realRoot, relPath(sha256));
  const existing = await lstat(final).catch(() => undefined);
  if (existing?.isFile() && existing.size === size) {
    await unlink(tmp).catch(() => undefined);
    // A reused blob is young again: orphan GC spares blobs younger than its grace period,
    // and this one may be about to get a record from an upload in another process.
    const now = new Date();
    await utimes(final, now, now).catch(() => undefined);
  } else {
    await mkdir(path.dirname(final), { recursive: true });
    await rename(tmp, final);
    if (state.fsync) {
      const dir = await open(path.dirname(final), constants.O_RDONLY);
      await dir.sync().finally(() => dir.close());
    }
  }
  return Boolean(existing);
}

/** @internal */
export async function fsPut(
  state: FsState,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  options: DatastorePutOptions = {},
): Promise<DatastorePutResult> {
  refuseReadOnly(state, "put");
  assertPutOptions(options);
  await ready(state);
  const started = performance.now();
  const tmp = path.join(state.tmpDir, temporaryName(state));
  const hashing = new HashingSource(source, options.maxBytes, options.signal);
  let handle: FileHandle | undefined = await open(tmp, "wx", 0o644);
  try {
    await writeSource(handle, hashing);
    if (state.fsync) await handle.sync();
    await handle.close();
    handle = undefined;
    const sha256 = hashing.digest();
    const deduplicated = await publish(state, tmp, sha256, hashing.size);
    return finishPut(state.id, hashing, sha256, started, deduplicated);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
