// Deterministic test blobs and the assertions the datastore conformance cases share.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MediaError } from "../errors.js";
import type { Datastore } from "../datastore/types.js";

/** @internal */
export const MiB = 1024 * 1024;
const BLOCK = MiB + 13;

/** Deterministic bytes generated as a stream: never held in memory at once. */
export interface TestBlob {
  size: number;
  sha256: string;
  /** A fresh stream of the bytes, in `chunkSize` pieces. */
  stream(chunkSize?: number): AsyncIterable<Uint8Array>;
  /** The bytes from `start` to `end` inclusive. */
  slice(start: number, end: number): Buffer;
}

const blocks = new Map<number, Buffer>();
function blockFor(seed: number): Buffer {
  let block = blocks.get(seed);
  if (!block) {
    block = Buffer.alloc(BLOCK);
    let h = createHash("sha256").update(`mmk-${seed}`).digest();
    for (let off = 0; off < BLOCK; off += h.length) {
      h.copy(block, off);
      h = createHash("sha256").update(h).digest();
    }
    if (blocks.size > 64) blocks.clear();
    blocks.set(seed, block);
  }
  return block;
}

/**
 * A deterministic blob of `size` bytes derived from `seed`, generated on the fly.
 *
 * @example
 * ```ts
 * const blob = testBlob(5 * 1024 * 1024, 1);
 * const { key } = await store.put(blob.stream());
 * assert.equal(key, blob.sha256);
 * ```
 */
export function testBlob(size: number, seed: number): TestBlob {
  const block = blockFor(seed);
  function* pieces(chunkSize: number): Generator<Uint8Array> {
    let pos = 0;
    while (pos < size) {
      const at = pos % BLOCK;
      const n = Math.min(chunkSize, size - pos, BLOCK - at);
      yield block.subarray(at, at + n);
      pos += n;
    }
  }
  const hash = createHash("sha256");
  for (const p of pieces(MiB)) hash.update(p);
  return {
    size,
    sha256: hash.digest("hex"),
    stream: async function* (chunkSize = 64 * 1024) {
      for (const p of pieces(chunkSize)) yield p;
    },
    slice(start, end) {
      const out = Buffer.alloc(end - start + 1);
      for (let i = start; i <= end; i++) out[i - start] = block[i % BLOCK]!;
      return out;
    },
  };
}

/** @internal */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** @internal */
export async function hashStream(
  stream: AsyncIterable<Uint8Array>,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const c of stream) {
    hash.update(c);
    size += c.byteLength;
  }
  return { size, sha256: hash.digest("hex") };
}

/** Every key the store lists, with its size. @internal */
export async function keys(store: Datastore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!store.list) return out;
  for await (const e of store.list()) out.set(e.key, e.size);
  return out;
}

/** An `assert.rejects` check for a MediaError with one of `errcodes` (and `status`). @internal */
export function isMediaError(errcodes: string[], status?: number) {
  return (err: unknown): boolean => {
    assert.ok(MediaError.is(err), `expected a MediaError, got ${String(err)}`);
    assert.ok(errcodes.includes(err.errcode), `unexpected errcode ${err.errcode}: ${err.message}`);
    if (status !== undefined) assert.equal(err.status, status);
    return true;
  };
}
