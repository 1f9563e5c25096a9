// The datastore conformance suite, run against every driver (ours and third parties').
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it, type TestContext } from "node:test";
import { MediaError } from "../errors.js";
import type { Datastore } from "../datastore/types.js";

/** The cases of {@link describeDatastore}; each can be skipped with a reason. */
export type DatastoreConformanceCase =
  | "empty"
  | "one-byte"
  | "5mib"
  | "large"
  | "dedup"
  | "ranges"
  | "range-past-eof"
  | "missing"
  | "delete"
  | "concurrent-same"
  | "concurrent-different"
  | "list"
  | "invalid-keys"
  | "max-bytes"
  | "abort"
  | "url";

/** Options of {@link describeDatastore}. */
export interface DescribeDatastoreOptions {
  /** Cases to skip, each with the reason printed by the test runner. */
  skip?: Partial<Record<DatastoreConformanceCase, string>>;
  /** Size of the `large` case. @defaultValue 200 MiB */
  largeBytes?: number;
  /** Maximum RSS growth in MB while the `large` blob is put and read back. @defaultValue 150 */
  maxRssGrowthMb?: number;
  /** Called after the suite (after the datastore's `dispose()`). */
  teardown?: () => Promise<void> | void;
}

const MiB = 1024 * 1024;
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

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function hashStream(
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

async function keys(store: Datastore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!store.list) return out;
  for await (const e of store.list()) out.set(e.key, e.size);
  return out;
}

function isMediaError(errcodes: string[], status?: number) {
  return (err: unknown): boolean => {
    assert.ok(MediaError.is(err), `expected a MediaError, got ${String(err)}`);
    assert.ok(errcodes.includes(err.errcode), `unexpected errcode ${err.errcode}: ${err.message}`);
    if (status !== undefined) assert.equal(err.status, status);
    return true;
  };
}

/**
 * Registers the datastore conformance suite with `node:test`: puts of 0 B, 1 B, 5 MiB and
 * a large blob streamed with bounded memory, ranges, deduplication, concurrency,
 * idempotent deletes, complete listings, refusal of keys the store did not produce,
 * `maxBytes`, aborts leaving nothing behind, and `url()` matching the capabilities.
 *
 * `factory` is called once, before the first case; the datastore is disposed after the last.
 *
 * @example
 * ```ts
 * import { describeDatastore } from "matrix-media-kit/testing";
 * import { myDatastore } from "./my-driver.js";
 * describeDatastore("my driver", () => myDatastore({ ... }), {
 *   skip: { large: "the test bucket is too small" },
 * });
 * ```
 */
export function describeDatastore(
  name: string,
  factory: () => Datastore | Promise<Datastore>,
  options: DescribeDatastoreOptions = {},
): void {
  const largeBytes = options.largeBytes ?? 200 * MiB;
  const maxRss = options.maxRssGrowthMb ?? 150;
  const skip = options.skip ?? {};

  describe(`datastore conformance: ${name}`, () => {
    let store!: Datastore;
    const written = new Set<string>();

    const test = (
      id: DatastoreConformanceCase,
      title: string,
      fn: (t: TestContext) => Promise<void>,
    ): void => {
      const reason = skip[id];
      if (reason !== undefined) it(`${id}: ${title}`, { skip: reason }, () => undefined);
      else it(`${id}: ${title}`, (t) => fn(t));
    };

    const put = async (
      source: AsyncIterable<Uint8Array> | Uint8Array,
      opts?: Parameters<Datastore["put"]>[1],
    ): Promise<Awaited<ReturnType<Datastore["put"]>>> => {
      const result = await store.put(source, opts);
      written.add(result.key);
      return result;
    };

    before(async () => {
      store = await factory();
      assert.equal(typeof store.id, "string");
      assert.equal(typeof store.capabilities, "object");
      assert.equal(
        typeof store.list === "function",
        store.capabilities.list,
        "list() is present iff capabilities.list",
      );
    });

    after(async () => {
      if (store && !store.capabilities.readOnly) {
        for (const key of written) await store.delete(key).catch(() => undefined);
      }
      await store?.dispose?.();
      await options.teardown?.();
    });

    async function roundTrip(size: number, seed: number): Promise<void> {
      const blob = testBlob(size, seed);
      const result = await put(blob.stream());
      assert.equal(result.size, size);
      assert.equal(result.sha256, blob.sha256);
      assert.equal(typeof result.key, "string");
      assert.deepEqual(await store.head(result.key), { size });
      const got = await store.get(result.key);
      assert.equal(got.size, size);
      assert.equal(got.range, undefined);
      assert.deepEqual(await hashStream(got.stream), { size, sha256: blob.sha256 });
    }

    test("empty", "puts and reads back a 0-byte blob", () => roundTrip(0, 1));
    test("one-byte", "puts and reads back a 1-byte blob", () => roundTrip(1, 2));
    test("5mib", "streams a 5 MiB blob in and out", () => roundTrip(5 * MiB, 3));

    test(
      "large",
      `streams a ${Math.round(largeBytes / MiB)} MiB blob with RSS growth < ${maxRss} MB`,
      async (t) => {
        const blob = testBlob(largeBytes, 4);
        (globalThis as { gc?: () => void }).gc?.();
        const base = process.memoryUsage.rss();
        let peak = base;
        const timer = setInterval(() => {
          peak = Math.max(peak, process.memoryUsage.rss());
        }, 10);
        try {
          const result = await put(blob.stream());
          assert.equal(result.sha256, blob.sha256);
          assert.equal(result.size, largeBytes);
          const got = await store.get(result.key);
          assert.equal(got.size, largeBytes);
          assert.deepEqual(await hashStream(got.stream), { size: largeBytes, sha256: blob.sha256 });
        } finally {
          clearInterval(timer);
        }
        peak = Math.max(peak, process.memoryUsage.rss());
        const growthMb = (peak - base) / 1e6;
        t.diagnostic(`RSS growth ${growthMb.toFixed(1)} MB`);
        assert.ok(growthMb < maxRss, `RSS grew by ${growthMb.toFixed(1)} MB (limit ${maxRss} MB)`);
      },
    );

    test("dedup", "a second put of the same bytes returns the same key", async () => {
      const blob = testBlob(70_000, 5);
      const a = await put(blob.stream());
      const b = await put(blob.stream(4096));
      assert.deepEqual(b, a);
      if (store.list) {
        const all = await keys(store);
        assert.equal(all.get(a.key), 70_000);
      }
    });

    test("ranges", "serves first byte, last byte, middle, open and clamped ranges", async () => {
      const blob = testBlob(1024, 6);
      const { key } = await put(blob.stream());
      const cases: Array<[{ start: number; end?: number }, number, number]> = [
        [{ start: 0, end: 0 }, 0, 0],
        [{ start: 1023, end: 1023 }, 1023, 1023],
        [{ start: 100, end: 199 }, 100, 199],
        [{ start: 1000 }, 1000, 1023],
        [{ start: 1000, end: 5000 }, 1000, 1023],
        [{ start: 0, end: 1023 }, 0, 1023],
      ];
      for (const [range, start, end] of cases) {
        const got = await store.get(key, { range });
        assert.equal(got.size, 1024, `size for ${JSON.stringify(range)}`);
        assert.deepEqual(got.range, { start, end }, `range for ${JSON.stringify(range)}`);
        const bytes = await readAll(got.stream);
        assert.equal(bytes.length, end - start + 1, `length for ${JSON.stringify(range)}`);
        assert.ok(bytes.equals(blob.slice(start, end)), `bytes for ${JSON.stringify(range)}`);
      }
    });

    test("range-past-eof", "refuses ranges starting past the end with 416", async () => {
      const blob = testBlob(1024, 7);
      const { key } = await put(blob.stream());
      await assert.rejects(
        store.get(key, { range: { start: 1024 } }),
        isMediaError(["M_INVALID_PARAM"], 416),
      );
      await assert.rejects(
        store.get(key, { range: { start: 5000, end: 6000 } }),
        isMediaError(["M_INVALID_PARAM"], 416),
      );
      const empty = await put(new Uint8Array(0));
      await assert.rejects(
        store.get(empty.key, { range: { start: 0, end: 0 } }),
        isMediaError(["M_INVALID_PARAM"], 416),
      );
    });

    test("missing", "a missing key is M_NOT_FOUND on get and undefined on head", async () => {
      const key = testBlob(10, 8).sha256;
      await assert.rejects(store.get(key), isMediaError(["M_NOT_FOUND"], 404));
      assert.equal(await store.head(key), undefined);
    });

    test("delete", "deletes, and deleting again is not an error", async () => {
      const { key } = await put(testBlob(2048, 9).stream());
      await store.delete(key);
      await store.delete(key);
      assert.equal(await store.head(key), undefined);
      await assert.rejects(store.get(key), isMediaError(["M_NOT_FOUND"], 404));
      if (store.list) assert.equal((await keys(store)).has(key), false);
    });

    test(
      "concurrent-same",
      "concurrent puts of the same bytes agree and store one blob",
      async () => {
        const blob = testBlob(MiB + 7, 10);
        const results = await Promise.all(
          Array.from({ length: 8 }, () => put(blob.stream(32 * 1024))),
        );
        for (const r of results) assert.deepEqual(r, results[0]);
        const got = await store.get(results[0]!.key);
        assert.deepEqual(await hashStream(got.stream), { size: blob.size, sha256: blob.sha256 });
      },
    );

    test(
      "concurrent-different",
      "concurrent puts of different bytes are all readable",
      async () => {
        const blobs = Array.from({ length: 8 }, (_, i) => testBlob(100_000 + i, 20 + i));
        const results = await Promise.all(blobs.map((b) => put(b.stream())));
        for (const [i, r] of results.entries()) {
          assert.equal(r.sha256, blobs[i]!.sha256);
          const got = await store.get(r.key);
          assert.deepEqual(await hashStream(got.stream), {
            size: blobs[i]!.size,
            sha256: blobs[i]!.sha256,
          });
        }
      },
    );

    test("list", "lists every blob with its size", async () => {
      if (!store.capabilities.list) return;
      const blobs = Array.from({ length: 25 }, (_, i) => testBlob(10 + i * 3, 40 + i));
      const results = [];
      for (const b of blobs) results.push(await put(b.stream()));
      const all = await keys(store);
      for (const r of results) assert.equal(all.get(r.key), r.size, `listed ${r.key}`);
      for (const k of all.keys())
        assert.ok((await store.head(k)) !== undefined, `listed key ${k} exists`);
    });

    test(
      "invalid-keys",
      "refuses keys it did not produce, without touching anything outside",
      async () => {
        const { key } = await put(testBlob(100, 11).stream());
        const bad = [
          "",
          "..",
          "../x",
          "../../../../etc/passwd",
          "%2e%2e/%2e%2e/etc/passwd",
          "..%2f..%2fetc%2fpasswd",
          "a\\b",
          "..\\..\\windows",
          `${key}\0`,
          "/etc/passwd",
          "C:\\Windows\\win.ini",
          `./${key}`,
          `${key}/../${key}`,
          `${key.slice(0, 2)}/${key.slice(2, 4)}/${key}`,
          key.toUpperCase(),
        ];
        const refused = isMediaError(["M_INVALID_PARAM", "M_NOT_FOUND"]);
        for (const k of bad) {
          await assert.rejects(store.get(k), refused, `get ${JSON.stringify(k)}`);
          await assert.rejects(
            (async () => {
              const h = await store.head(k);
              if (h === undefined) throw new MediaError("M_NOT_FOUND", "absent");
              return h;
            })(),
            refused,
            `head ${JSON.stringify(k)}`,
          );
          if (!store.capabilities.readOnly) {
            await assert.rejects(
              store.delete(k),
              isMediaError(["M_INVALID_PARAM"], 400),
              `delete ${JSON.stringify(k)}`,
            );
          }
          if (store.url)
            await assert.rejects(
              store.url(k),
              isMediaError(["M_INVALID_PARAM"], 400),
              `url ${JSON.stringify(k)}`,
            );
        }
        assert.deepEqual(await store.head(key), { size: 100 }, "the real blob is untouched");
      },
    );

    test(
      "max-bytes",
      "refuses a put past maxBytes with M_TOO_LARGE and leaves nothing",
      async () => {
        const before = await keys(store);
        const blob = testBlob(10_000, 12);
        await assert.rejects(
          put(blob.stream(1000), { maxBytes: 4096 }),
          isMediaError(["M_TOO_LARGE"], 413),
        );
        assert.equal(await store.head(blob.sha256), undefined);
        assert.deepEqual(await keys(store), before);
        const ok = await put(blob.stream(), { maxBytes: 10_000 });
        assert.equal(ok.size, 10_000);
      },
    );

    test("abort", "an aborted put rejects and leaves nothing behind", async () => {
      const before = await keys(store);
      const controller = new AbortController();
      let resume!: () => void;
      const stalled = new Promise<void>((r) => (resume = r));
      async function* source(): AsyncGenerator<Uint8Array> {
        yield Buffer.alloc(MiB, 1);
        setTimeout(() => controller.abort(), 20);
        await stalled;
        yield Buffer.alloc(MiB, 2);
      }
      await assert.rejects(put(source(), { signal: controller.signal }));
      resume();
      assert.deepEqual(await keys(store), before);
    });

    test("url", "url() is present iff capabilities.url and gives a URL", async () => {
      assert.equal(typeof store.url === "function", store.capabilities.url);
      if (!store.url) return;
      const { key } = await put(testBlob(64, 13).stream());
      const url = await store.url(key, { expiresIn: 600 });
      assert.ok(url === undefined || /^https?:\/\//.test(url), `url ${String(url)}`);
    });
  });
}
