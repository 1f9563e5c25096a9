// The cases of the datastore conformance suite, in groups registered by describeDatastore.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { MediaError } from "../errors.js";
import type { Datastore, DatastorePutOptions, DatastorePutResult } from "../datastore/types.js";
import { hashStream, isMediaError, keys, MiB, readAll, testBlob } from "./datastore-blob.js";

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

/** What every group of cases uses: the store under test and how to register a case. @internal */
export interface ConformanceSuite {
  /** The datastore under test, created in the suite's `before` hook. */
  readonly store: Datastore;
  /** Puts into the store, remembering the key so the suite deletes it afterwards. */
  put(
    source: AsyncIterable<Uint8Array> | Uint8Array,
    options?: DatastorePutOptions,
  ): Promise<DatastorePutResult>;
  /** Registers a case, or a skipped one when the options give a reason. */
  test(id: DatastoreConformanceCase, title: string, fn: (t: TestContext) => Promise<void>): void;
  readonly largeBytes: number;
  readonly maxRssGrowthMb: number;
}

async function roundTrip(suite: ConformanceSuite, size: number, seed: number): Promise<void> {
  const blob = testBlob(size, seed);
  const result = await suite.put(blob.stream());
  assert.equal(result.size, size);
  assert.equal(result.sha256, blob.sha256);
  assert.equal(typeof result.key, "string");
  assert.deepEqual(await suite.store.head(result.key), { size });
  const got = await suite.store.get(result.key);
  assert.equal(got.size, size);
  assert.equal(got.range, undefined);
  assert.deepEqual(await hashStream(got.stream), { size, sha256: blob.sha256 });
}

/** Puts and reads back blobs of 0 B, 1 B, 5 MiB and a large size (bounded memory). @internal */
export function describeRoundTrips(suite: ConformanceSuite): void {
  suite.test("empty", "puts and reads back a 0-byte blob", () => roundTrip(suite, 0, 1));
  suite.test("one-byte", "puts and reads back a 1-byte blob", () => roundTrip(suite, 1, 2));
  suite.test("5mib", "streams a 5 MiB blob in and out", () => roundTrip(suite, 5 * MiB, 3));

  suite.test(
    "large",
    `streams a ${Math.round(suite.largeBytes / MiB)} MiB blob with RSS growth < ${suite.maxRssGrowthMb} MB`,
    async (t) => {
      const blob = testBlob(suite.largeBytes, 4);
      (globalThis as { gc?: () => void }).gc?.();
      const base = process.memoryUsage.rss();
      let peak = base;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage.rss());
      }, 10);
      try {
        const result = await suite.put(blob.stream());
        assert.equal(result.sha256, blob.sha256);
        assert.equal(result.size, suite.largeBytes);
        const got = await suite.store.get(result.key);
        assert.equal(got.size, suite.largeBytes);
        assert.deepEqual(await hashStream(got.stream), {
          size: suite.largeBytes,
          sha256: blob.sha256,
        });
      } finally {
        clearInterval(timer);
      }
      peak = Math.max(peak, process.memoryUsage.rss());
      const growthMb = (peak - base) / 1e6;
      t.diagnostic(`RSS growth ${growthMb.toFixed(1)} MB`);
      assert.ok(
        growthMb < suite.maxRssGrowthMb,
        `RSS grew by ${growthMb.toFixed(1)} MB (limit ${suite.maxRssGrowthMb} MB)`,
      );
    },
  );
}

/** Deduplication, ranges, and missing keys. @internal */
export function describeReads(suite: ConformanceSuite): void {
  suite.test("dedup", "a second put of the same bytes returns the same key", async () => {
    const blob = testBlob(70_000, 5);
    const a = await suite.put(blob.stream());
    const b = await suite.put(blob.stream(4096));
    assert.deepEqual(b, a);
    if (suite.store.list) {
      const all = await keys(suite.store);
      assert.equal(all.get(a.key), 70_000);
    }
  });

  suite.test(
    "ranges",
    "serves first byte, last byte, middle, open and clamped ranges",
    async () => {
      const blob = testBlob(1024, 6);
      const { key } = await suite.put(blob.stream());
      const cases: Array<[{ start: number; end?: number }, number, number]> = [
        [{ start: 0, end: 0 }, 0, 0],
        [{ start: 1023, end: 1023 }, 1023, 1023],
        [{ start: 100, end: 199 }, 100, 199],
        [{ start: 1000 }, 1000, 1023],
        [{ start: 1000, end: 5000 }, 1000, 1023],
        [{ start: 0, end: 1023 }, 0, 1023],
      ];
      for (const [range, start, end] of cases) {
        const got = await suite.store.get(key, { range });
        assert.equal(got.size, 1024, `size for ${JSON.stringify(range)}`);
        assert.deepEqual(got.range, { start, end }, `range for ${JSON.stringify(range)}`);
        const bytes = await readAll(got.stream);
        assert.equal(bytes.length, end - start + 1, `length for ${JSON.stringify(range)}`);
        assert.ok(bytes.equals(blob.slice(start, end)), `bytes for ${JSON.stringify(range)}`);
      }
    },
  );

  suite.test("range-past-eof", "refuses ranges starting past the end with 416", async () => {
    const blob = testBlob(1024, 7);
    const { key } = await suite.put(blob.stream());
    await assert.rejects(
      suite.store.get(key, { range: { start: 1024 } }),
      isMediaError(["M_INVALID_PARAM"], 416),
    );
    await assert.rejects(
      suite.store.get(key, { range: { start: 5000, end: 6000 } }),
      isMediaError(["M_INVALID_PARAM"], 416),
    );
    const empty = await suite.put(new Uint8Array(0));
    await assert.rejects(
      suite.store.get(empty.key, { range: { start: 0, end: 0 } }),
      isMediaError(["M_INVALID_PARAM"], 416),
    );
  });

  suite.test("missing", "a missing key is M_NOT_FOUND on get and undefined on head", async () => {
    const key = testBlob(10, 8).sha256;
    await assert.rejects(suite.store.get(key), isMediaError(["M_NOT_FOUND"], 404));
    assert.equal(await suite.store.head(key), undefined);
  });
}

/** Deletes, concurrent puts, and complete listings. @internal */
export function describeWritesAndListing(suite: ConformanceSuite): void {
  suite.test("delete", "deletes, and deleting again is not an error", async () => {
    const { key } = await suite.put(testBlob(2048, 9).stream());
    await suite.store.delete(key);
    await suite.store.delete(key);
    assert.equal(await suite.store.head(key), undefined);
    await assert.rejects(suite.store.get(key), isMediaError(["M_NOT_FOUND"], 404));
    if (suite.store.list) assert.equal((await keys(suite.store)).has(key), false);
  });

  suite.test(
    "concurrent-same",
    "concurrent puts of the same bytes agree and store one blob",
    async () => {
      const blob = testBlob(MiB + 7, 10);
      const results = await Promise.all(
        Array.from({ length: 8 }, () => suite.put(blob.stream(32 * 1024))),
      );
      for (const r of results) assert.deepEqual(r, results[0]);
      const got = await suite.store.get(results[0]!.key);
      assert.deepEqual(await hashStream(got.stream), { size: blob.size, sha256: blob.sha256 });
    },
  );

  suite.test(
    "concurrent-different",
    "concurrent puts of different bytes are all readable",
    async () => {
      const blobs = Array.from({ length: 8 }, (_, i) => testBlob(100_000 + i, 20 + i));
      const results = await Promise.all(blobs.map((b) => suite.put(b.stream())));
      for (const [i, r] of results.entries()) {
        assert.equal(r.sha256, blobs[i]!.sha256);
        const got = await suite.store.get(r.key);
        assert.deepEqual(await hashStream(got.stream), {
          size: blobs[i]!.size,
          sha256: blobs[i]!.sha256,
        });
      }
    },
  );

  suite.test("list", "lists every blob with its size", async () => {
    if (!suite.store.capabilities.list) return;
    const blobs = Array.from({ length: 25 }, (_, i) => testBlob(10 + i * 3, 40 + i));
    const results = [];
    for (const b of blobs) results.push(await suite.put(b.stream()));
    const all = await keys(suite.store);
    for (const r of results) assert.equal(all.get(r.key), r.size, `listed ${r.key}`);
    for (const k of all.keys())
      assert.ok((await suite.store.head(k)) !== undefined, `listed key ${k} exists`);
  });
}

/** Keys the store did not produce, and puts past `maxBytes`. @internal */
export function describeRefusals(suite: ConformanceSuite): void {
  suite.test(
    "invalid-keys",
    "refuses keys it did not produce, without touching anything outside",
    async () => {
      const { key } = await suite.put(testBlob(100, 11).stream());
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
        await assert.rejects(suite.store.get(k), refused, `get ${JSON.stringify(k)}`);
        await assert.rejects(
          (async () => {
            const h = await suite.store.head(k);
            if (h === undefined) throw new MediaError("M_NOT_FOUND", "absent");
            return h;
          })(),
          refused,
          `head ${JSON.stringify(k)}`,
        );
        if (!suite.store.capabilities.readOnly) {
          await assert.rejects(
            suite.store.delete(k),
            isMediaError(["M_INVALID_PARAM"], 400),
            `delete ${JSON.stringify(k)}`,
          );
        }
        if (suite.store.url)
          await assert.rejects(
            suite.store.url(k),
            isMediaError(["M_INVALID_PARAM"], 400),
            `url ${JSON.stringify(k)}`,
          );
      }
      assert.deepEqual(await suite.store.head(key), { size: 100 }, "the real blob is untouched");
    },
  );

  suite.test(
    "max-bytes",
    "refuses a put past maxBytes with M_TOO_LARGE and leaves nothing",
    async () => {
      const before = await keys(suite.store);
      const blob = testBlob(10_000, 12);
      await assert.rejects(
        suite.put(blob.stream(1000), { maxBytes: 4096 }),
        isMediaError(["M_TOO_LARGE"], 413),
      );
      assert.equal(await suite.store.head(blob.sha256), undefined);
      assert.deepEqual(await keys(suite.store), before);
      const ok = await suite.put(blob.stream(), { maxBytes: 10_000 });
      assert.equal(ok.size, 10_000);
    },
  );
}

/** Aborted puts leave nothing behind; `url()` matches the capabilities. @internal */
export function describeAbortAndUrl(suite: ConformanceSuite): void {
  suite.test("abort", "an aborted put rejects and leaves nothing behind", async () => {
    const before = await keys(suite.store);
    const controller = new AbortController();
    let resume!: () => void;
    const stalled = new Promise<void>((r) => (resume = r));
    async function* source(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(MiB, 1);
      setTimeout(() => controller.abort(), 20);
      await stalled;
      yield Buffer.alloc(MiB, 2);
    }
    await assert.rejects(suite.put(source(), { signal: controller.signal }));
    resume();
    assert.deepEqual(await keys(suite.store), before);
  });

  suite.test("url", "url() is present iff capabilities.url and gives a URL", async () => {
    assert.equal(typeof suite.store.url === "function", suite.store.capabilities.url);
    if (!suite.store.url) return;
    const { key } = await suite.put(testBlob(64, 13).stream());
    const url = await suite.store.url(key, { expiresIn: 600 });
    assert.ok(url === undefined || /^https?:\/\//.test(url), `url ${String(url)}`);
  });
}
