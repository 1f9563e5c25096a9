// Orphan blob collection and remote retention against real stores: two repositories (two
// processes) share one metadata store and one fs datastore root.
import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fsDatastore } from "../../../src/datastore/index.js";
import { createMediaIdGenerator } from "../../../src/ids/index.js";
import { memoryMetadataStore } from "../../../src/metadata/memory.js";
import type { MediaRecord, MetadataStore } from "../../../src/metadata/types.js";
import { createMediaRepository } from "../../../src/repository/index.js";
import { collectOrphanBlobs, purgeLocalMedia, purgeRemoteMedia } from "../../../src/scale/index.js";
import { tempDir } from "../../harness/tmp.js";

const HOUR = 60 * 60 * 1000;

async function setup() {
  const dir = await tempDir("mmk-gc-");
  const root = path.join(dir.path, "media");
  const metadata = memoryMetadataStore();
  // Each "process" has its own datastore instance over the same root.
  const storeA = fsDatastore({ root, fsync: false });
  const storeB = fsDatastore({ root, fsync: false });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let inserting!: () => void;
  const reachedInsert = new Promise<void>((resolve) => (inserting = resolve));
  // Process B's view of the shared store: its inserts wait for the test to let them through,
  // so its blob is stored while its record is not yet there.
  const slowInserts: MetadataStore = {
    ...metadata,
    insertMedia: async (record) => {
      inserting();
      await gate;
      return metadata.insertMedia(record);
    },
  };
  const repo = (id: number, datastore: typeof storeA, store: MetadataStore) =>
    createMediaRepository({
      serverName: "example.org",
      ids: createMediaIdGenerator({ machineId: id }),
      datastore,
      metadata: store,
    });
  const a = repo(1, storeA, metadata);
  const b = repo(2, storeB, slowInserts);
  after(async () => {
    release();
    await Promise.all([a.close(), b.close()]);
    await dir.cleanup();
  });
  return { a, b, metadata, storeA, storeB, release, reachedInsert };
}

describe("collectOrphanBlobs", () => {
  it("keeps the blob of an upload in another process whose record is not inserted yet", async () => {
    const { b, metadata, storeA, release, reachedInsert } = await setup();
    const bytes = Buffer.from("the same bytes, uploaded while GC runs");
    const uploading = b.upload(bytes, { contentType: "text/plain", uploader: "@bob:example.org" });
    await reachedInsert;
    // GC in process A: the blob is there, no record references it yet.
    const during = await collectOrphanBlobs({ datastore: storeA, metadata });
    assert.equal(during.scanned, 1);
    assert.equal(during.deleted, 0);
    assert.equal(during.young, 1);
    release();
    const { record } = await uploading;
    // Once recorded, even a GC whose clock is far past the grace period keeps it.
    const later = await collectOrphanBlobs({
      datastore: storeA,
      metadata,
      now: () => Date.now() + 2 * HOUR,
    });
    assert.deepEqual([later.deleted, later.referenced], [0, 1]);
    const { body } = await b.download(record.origin, record.mediaId);
    const chunks: Buffer[] = [];
    for await (const chunk of body.stream!) chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), bytes);
  });

  it("deletes a blob no record references once it is older than the grace period", async () => {
    const { a, metadata, storeA } = await setup();
    const kept = await a.upload(Buffer.from("recorded"), { uploader: "@alice:example.org" });
    const orphan = await storeA.put(Buffer.from("an orphan left by a crash"));
    const young = await collectOrphanBlobs({ datastore: storeA, metadata });
    assert.equal(young.deleted, 0);
    assert.ok(await storeA.head(orphan.key));
    const counts = await collectOrphanBlobs({
      datastore: storeA,
      metadata,
      graceMs: HOUR,
      now: () => Date.now() + HOUR + 60_000,
    });
    assert.deepEqual([counts.scanned, counts.deleted, counts.referenced], [2, 1, 1]);
    assert.equal(await storeA.head(orphan.key), undefined);
    assert.ok(await storeA.head(kept.record.location));
  });

  it("deletes at most batchSize blobs per call", async () => {
    const { metadata, storeA } = await setup();
    for (const text of ["one", "two", "three"]) await storeA.put(Buffer.from(`orphan ${text}`));
    const now = () => Date.now() + 2 * HOUR;
    const first = await collectOrphanBlobs({ datastore: storeA, metadata, now, batchSize: 2 });
    assert.equal(first.deleted, 2);
    const second = await collectOrphanBlobs({ datastore: storeA, metadata, now, batchSize: 2 });
    assert.deepEqual([second.scanned, second.deleted], [1, 1]);
    await assert.rejects(
      collectOrphanBlobs({ datastore: storeA, metadata, batchSize: 0 }),
      /batchSize/,
    );
  });

  it("keeps what isReferenced claims, and stops on an aborted signal", async () => {
    const { metadata, storeA } = await setup();
    const thumb = await storeA.put(Buffer.from("a thumbnail"));
    const now = () => Date.now() + 2 * HOUR;
    const counts = await collectOrphanBlobs({
      datastore: storeA,
      metadata,
      now,
      isReferenced: async (key) => key === thumb.key,
    });
    assert.equal(counts.deleted, 0);
    await assert.rejects(
      collectOrphanBlobs({ datastore: storeA, metadata, now, signal: AbortSignal.abort() }),
    );
    assert.ok(await storeA.head(thumb.key));
  });
});

describe("collectOrphanBlobs on a thumbnail datastore", () => {
  it("keeps a blob a thumbnail record names, and collects it once the media is deleted", async () => {
    const { a, metadata, storeA } = await setup();
    const { record } = await a.upload(Buffer.from("the source"), { uploader: "@a:example.org" });
    const thumbBlob = await storeA.put(Buffer.from("the thumbnail's bytes"));
    await metadata.putThumbnail({
      origin: record.origin,
      mediaId: record.mediaId,
      width: 32,
      height: 32,
      method: "scale",
      animated: false,
      contentType: "image/png",
      size: thumbBlob.size,
      sha256: thumbBlob.sha256,
      datastoreId: storeA.id,
      location: thumbBlob.key,
      createdAt: Date.now(),
    });
    const orphan = await storeA.put(Buffer.from("an orphan thumbnail of deleted media"));
    const now = () => Date.now() + 2 * HOUR;
    const counts = await collectOrphanBlobs({ datastore: storeA, metadata, now });
    assert.deepEqual([counts.scanned, counts.deleted, counts.referenced], [3, 1, 2]);
    assert.ok(await storeA.head(thumbBlob.key), "the thumbnail's blob is kept");
    assert.equal(await storeA.head(orphan.key), undefined);

    // Deleting media removes its thumbnail records (the repository deletes their blobs too);
    // a thumbnail blob left behind by a crash in between is collected.
    await metadata.deleteMedia(record.origin, record.mediaId);
    const after = await collectOrphanBlobs({ datastore: storeA, metadata, now });
    assert.equal(after.deleted, 2);
    assert.equal(await storeA.head(thumbBlob.key), undefined);
  });
});

describe("purgeLocalMedia", () => {
  it("deletes local media not accessed within maxAgeMs, batchSize per run, keeping protected media", async () => {
    const { a, metadata, storeA } = await setup();
    const up = async (text: string) =>
      (await a.upload(Buffer.from(text), { uploader: "@a:example.org" })).record;
    const [one, two, kept] = [await up("one"), await up("two"), await up("protected")];
    await metadata.setProtected(kept.origin, kept.mediaId, true);
    const now = () => Date.now() + 2 * HOUR;
    const options = { repository: a, metadata, maxAgeMs: HOUR, batchSize: 1, now };
    assert.deepEqual(await purgeLocalMedia({ ...options, maxAgeMs: 3 * HOUR }), {
      scanned: 0,
      deleted: 0,
    });
    assert.deepEqual(await purgeLocalMedia(options), { scanned: 1, deleted: 1 });
    assert.deepEqual(await purgeLocalMedia(options), { scanned: 1, deleted: 1 });
    assert.deepEqual(await purgeLocalMedia(options), { scanned: 0, deleted: 0 });
    for (const gone of [one, two]) {
      assert.equal(await metadata.getMedia(gone.origin, gone.mediaId), undefined);
      assert.equal(await storeA.head(gone.location), undefined);
    }
    assert.ok(await metadata.getMedia(kept.origin, kept.mediaId));
    await assert.rejects(purgeLocalMedia({ ...options, batchSize: 0 }), /batchSize/);
  });
});

describe("purgeRemoteMedia", () => {
  it("deletes remote media not accessed within maxAgeMs and keeps protected media", async () => {
    const { a, metadata, storeA } = await setup();
    const at = Date.now() - 10 * HOUR;
    const remote = async (mediaId: string, text: string, isProtected: boolean) => {
      const put = await storeA.put(Buffer.from(text));
      const record: MediaRecord = {
        origin: "remote.example",
        mediaId,
        kind: "remote",
        contentType: "text/plain",
        filename: null,
        size: put.size,
        sha256: put.sha256,
        datastoreId: storeA.id,
        location: put.key,
        uploader: null,
        createdAt: at,
        lastAccessAt: at,
        quarantined: false,
        protected: isProtected,
      };
      await metadata.insertMedia(record);
      return put.key;
    };
    const oldKey = await remote("old", "old remote", false);
    const keptKey = await remote("kept", "protected remote", true);
    const result = await purgeRemoteMedia({ repository: a, maxAgeMs: HOUR });
    assert.equal(result.deleted, 1);
    assert.equal(await metadata.getMedia("remote.example", "old"), undefined);
    assert.ok(await metadata.getMedia("remote.example", "kept"));
    assert.equal(await storeA.head(oldKey), undefined);
    assert.ok(await storeA.head(keptKey));
  });
});
