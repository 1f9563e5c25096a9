import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { s3AndTempDirs } from "./fixture.js";
import {
  cachedDatastore,
  fsDatastore,
  routeByKind,
  s3Datastore,
  type Datastore,
} from "../../src/datastore/index.js";
import { ConfigError, MediaError } from "../../src/errors.js";

/** A ConfigError naming `option`. */
function configError(option: string) {
  return (err: unknown): boolean => {
    assert.ok(ConfigError.is(err), `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.option, option);
    return true;
  };
}

async function text(
  store: Datastore,
  key: string,
  range?: { start: number; end?: number },
): Promise<string> {
  const { stream } = await store.get(key, range ? { range } : {});
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

const isCode = (errcode: string) => (err: unknown) => MediaError.is(err) && err.errcode === errcode;

describe("routeByKind and cachedDatastore", () => {
  const fixture = s3AndTempDirs("mmk-rc-");
  const newDir = fixture.newDir;
  const s3Store = (prefix: string, id = "s3"): Datastore =>
    s3Datastore({
      ...fixture.s3.connection,
      id,
      prefix,
    });

  it("routes each kind to its datastore and reads blobs back by datastore id", async () => {
    const disk = fsDatastore({ id: "disk", root: await newDir() });
    const bucket = s3Store("routed/");
    const oldRoot = await newDir();
    const { key: oldKey } = await fsDatastore({ root: oldRoot }).put(Buffer.from("legacy media"));
    const old = fsDatastore({ id: "old", root: oldRoot, readOnly: true });
    const stores = routeByKind({
      local: bucket,
      remote: bucket,
      thumbnail: disk,
      preview: disk,
      readable: [old],
    });

    assert.equal(stores.forKind("local"), bucket);
    assert.equal(stores.forKind("thumbnail"), disk);
    assert.equal(stores.forKind("archive"), bucket, "kinds not given default to local");
    assert.deepEqual(
      stores.all().map((s) => s.id),
      ["s3", "disk", "old"],
    );

    const upload = await stores.put("local", Buffer.from("an upload"));
    assert.equal(upload.datastoreId, "s3");
    const thumb = await stores.put("thumbnail", Buffer.from("a thumbnail"));
    assert.equal(thumb.datastoreId, "disk");
    assert.deepEqual(await bucket.head(upload.key), { size: 9 });
    assert.equal(await disk.head(upload.key), undefined);

    assert.equal(await text(stores.byId(upload.datastoreId)!, upload.key), "an upload");
    const viaRouter = await stores.get(thumb.datastoreId, thumb.key, {
      range: { start: 2, end: 6 },
    });
    assert.deepEqual(viaRouter.range, { start: 2, end: 6 });
    viaRouter.stream.destroy();
    assert.equal(
      await text(stores.byId("old")!, oldKey),
      "legacy media",
      "read-only stores stay readable",
    );
    assert.deepEqual(await stores.head("old", oldKey), { size: 12 });
    assert.equal(await stores.head("nope", oldKey), undefined);
    await assert.rejects(stores.get("nope", oldKey), isCode("M_NOT_FOUND"));
    await assert.rejects(stores.delete("old", oldKey), isCode("M_FORBIDDEN"));
    assert.equal(await stores.url("s3", upload.key), undefined);
    await stores.delete("s3", upload.key);
    assert.equal(await stores.head("s3", upload.key), undefined);
  });

  it("refuses ambiguous or unsafe routes", async () => {
    const a = fsDatastore({ id: "same", root: await newDir() });
    const b = fsDatastore({ id: "same", root: await newDir() });
    const ro = fsDatastore({ id: "ro", root: await newDir(), readOnly: true });
    assert.throws(() => routeByKind({ local: a, thumbnail: b }), /share the id "same"/);
    assert.throws(
      () => routeByKind({ local: a, preview: ro }),
      /read-only.*routes\.preview.*readable/,
    );
    assert.throws(() => routeByKind({} as never), /routes\.local/);
    assert.throws(() => routeByKind({ local: a, thumbnail: b }), configError("thumbnail"));
    assert.throws(() => routeByKind({ local: a, preview: ro }), configError("preview"));
    assert.throws(() => routeByKind({} as never), configError("local"));
    assert.throws(
      () => routeByKind({ local: a, readable: [{} as never] }),
      configError("readable[0]"),
    );
    assert.doesNotThrow(() => routeByKind({ local: a, thumbnail: a, readable: [ro] }));
  });

  it("reads through, evicts least recently used copies by bytes, and survives a restart", async () => {
    const origin = s3Store("cache-origin/", "s3-origin");
    const cacheRoot = await newDir();
    const make = () =>
      cachedDatastore({
        origin,
        local: fsDatastore({ id: "cache", root: cacheRoot }),
        maxBytes: 3000,
      });
    const cache = make();
    assert.equal(cache.id, "s3-origin", "metadata keeps the origin's id");
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) keys.push((await cache.put(Buffer.alloc(1000, 65 + i))).key);
    assert.equal(cache.stats().entries, 0, "writes go to the origin only");

    assert.equal(await text(cache, keys[0]!, { start: 0, end: 2 }), "AAA");
    assert.equal(await text(cache, keys[0]!), "A".repeat(1000));
    assert.deepEqual([cache.stats().misses, cache.stats().hits], [1, 1]);
    await text(cache, keys[1]!);
    await text(cache, keys[2]!);
    await text(cache, keys[0]!); // touch: keys[1] is now the least recently used
    await text(cache, keys[3]!);
    const s = cache.stats();
    assert.equal(s.entries, 3);
    assert.equal(s.bytes, 3000);
    assert.equal(s.evictions, 1);
    const local = fsDatastore({ root: cacheRoot });
    assert.equal(await local.head(keys[1]!), undefined, "the least recently used copy was evicted");
    assert.deepEqual(await local.head(keys[0]!), { size: 1000 });

    // Restart: the index is rebuilt from disk, and copies are served without the origin.
    const restarted = make();
    await restarted.ready();
    assert.deepEqual([restarted.stats().entries, restarted.stats().bytes], [3, 3000]);
    await origin.delete(keys[3]!);
    assert.equal(await text(restarted, keys[3]!), "D".repeat(1000));
    assert.equal(restarted.stats().hits, 1);
    // A blob gone from the origin and not cached is not found; deletes drop the copy too.
    await origin.delete(keys[1]!);
    await assert.rejects(text(restarted, keys[1]!), isCode("M_NOT_FOUND"));
    await restarted.delete(keys[0]!);
    assert.equal(await local.head(keys[0]!), undefined);
    assert.equal(await origin.head(keys[0]!), undefined);
  });

  it("streams blobs larger than maxBlobBytes from the origin without keeping a copy", async () => {
    const origin = fsDatastore({ id: "origin", root: await newDir() });
    const cache = cachedDatastore({
      origin,
      local: fsDatastore({ id: "c", root: await newDir() }),
      maxBytes: 1000,
      maxBlobBytes: 100,
    });
    const { key } = await origin.put(Buffer.alloc(500, 66));
    assert.equal((await text(cache, key)).length, 500);
    assert.equal(cache.stats().entries, 0);
    const concurrent = await Promise.all(
      Array.from({ length: 5 }, async () => cache.put(Buffer.from("tiny"))),
    );
    const reads = await Promise.all(concurrent.map((r) => text(cache, r.key)));
    assert.deepEqual(reads, Array(5).fill("tiny"));
    assert.equal(cache.stats().entries, 1, "concurrent misses of one key fill one copy");
    assert.throws(() => cachedDatastore({ origin, local: origin, maxBytes: 0 }), /maxBytes/);
    assert.throws(
      () => cachedDatastore({ origin, local: origin, maxBytes: 0 }),
      configError("maxBytes"),
    );
    assert.throws(
      () => cachedDatastore({ origin, local: origin, maxBytes: 10, maxBlobBytes: 11 }),
      configError("maxBlobBytes"),
    );
    assert.throws(
      () => cachedDatastore({ origin, local: {} as never, maxBytes: 10 }),
      configError("local"),
    );
  });
});
