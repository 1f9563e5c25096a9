// Records: insert, read, copies, lookups by hash, touch, delete, protect.
import assert from "node:assert/strict";
import {
  newId,
  sha,
  media,
  thumb,
  rejectsWith,
  keys,
  key,
  type MetadataCases,
} from "./fixtures.js";

/** Cases of the `records` group of `describeMetadataStore`. */
export type MetadataRecordsCase =
  | "inserts a record and returns it verbatim"
  | "returns copies that callers cannot mutate"
  | "refuses a taken (origin, mediaId) with M_CANNOT_OVERWRITE_MEDIA"
  | "finds every record by sha256"
  | "touchMedia records last access in one batch and never moves it back"
  | "deleteMedia removes the record and its thumbnails and returns them"
  | "setProtected sets and clears protection";

/** @internal */
export const recordsCases = {
  "inserts a record and returns it verbatim": async ({ store }) => {
    const r = media({ filename: null });
    await store.insertMedia(r);
    assert.deepEqual(await store.getMedia(r.origin, r.mediaId), r);
    assert.equal(await store.getMedia(r.origin, "nope"), undefined);
    assert.equal(await store.getMedia("other.example", r.mediaId), undefined);
    const remote = media({ origin: "remote.example", kind: "remote", uploader: null, size: 0 });
    await store.insertMedia(remote);
    assert.deepEqual(await store.getMedia(remote.origin, remote.mediaId), remote);
  },
  "returns copies that callers cannot mutate": async ({ store }) => {
    const r = media();
    await store.insertMedia(r);
    r.filename = "changed-after-insert";
    const got = (await store.getMedia(r.origin, r.mediaId))!;
    assert.equal(got.filename, "cat.png");
    got.quarantined = true;
    assert.equal((await store.getMedia(r.origin, r.mediaId))!.quarantined, false);
  },
  "refuses a taken (origin, mediaId) with M_CANNOT_OVERWRITE_MEDIA": async ({ store }) => {
    const r = media();
    await store.insertMedia(r);
    await rejectsWith(
      store.insertMedia({ ...r, size: 1, filename: "other" }),
      "M_CANNOT_OVERWRITE_MEDIA",
    );
    assert.deepEqual(await store.getMedia(r.origin, r.mediaId), r);
    assert.deepEqual(await store.getUsage(r.uploader!), { bytes: r.size, count: 1 });
    // The same media ID on another origin is another piece of media.
    await store.insertMedia({ ...r, origin: "remote.example", kind: "remote", uploader: null });
  },
  "finds every record by sha256": async ({ store }) => {
    const hash = sha(`dup-${newId()}`);
    const a = media({ sha256: hash });
    const b = media({ sha256: hash, uploader: "@bob:example.org" });
    const c = media({ sha256: hash, origin: "remote.example", kind: "remote", uploader: null });
    const other = media();
    for (const r of [a, b, c, other]) await store.insertMedia(r);
    const found = await store.getMediaBySha256(hash);
    assert.deepEqual(keys(found), keys([a, b, c]));
    assert.deepEqual(
      found.find((r) => r.mediaId === c.mediaId),
      c,
    );
    assert.deepEqual(await store.getMediaBySha256(sha("nothing")), []);
    await rejectsWith(store.getMediaBySha256("NOT-A-HASH"), "M_INVALID_PARAM");
  },
  "touchMedia records last access in one batch and never moves it back": async ({ store }) => {
    const a = media({
      kind: "remote",
      origin: "remote.example",
      uploader: null,
      lastAccessAt: 1000,
    });
    const b = media({ lastAccessAt: 5000 });
    await store.insertMedia(a);
    await store.insertMedia(b);
    await store.touchMedia([
      { origin: a.origin, mediaId: a.mediaId, at: 2000 },
      { origin: a.origin, mediaId: a.mediaId, at: 3000 },
      { origin: a.origin, mediaId: a.mediaId, at: 2500 },
      { origin: b.origin, mediaId: b.mediaId, at: 4000 },
      { origin: "nowhere.example", mediaId: "missing", at: 9999 },
    ]);
    assert.equal((await store.getMedia(a.origin, a.mediaId))!.lastAccessAt, 3000);
    assert.equal((await store.getMedia(b.origin, b.mediaId))!.lastAccessAt, 5000);
    await store.touchMedia([]);
    assert.deepEqual(
      (await store.listRemoteMediaAccessedBefore(3001)).map(key).filter((k) => k === key(a)),
      [key(a)],
    );
    assert.deepEqual(
      (await store.listRemoteMediaAccessedBefore(3000)).map(key).filter((k) => k === key(a)),
      [],
    );
    await rejectsWith(
      store.touchMedia([{ origin: a.origin, mediaId: a.mediaId, at: -1 }]),
      "M_INVALID_PARAM",
    );
  },
  "deleteMedia removes the record and its thumbnails and returns them": async ({ store }) => {
    const r = media();
    const other = media();
    await store.insertMedia(r);
    await store.insertMedia(other);
    const t1 = thumb(r, { width: 32, height: 32 });
    const t2 = thumb(r, { width: 640, height: 480, method: "scale" });
    const t3 = thumb(other);
    for (const t of [t2, t1, t3]) await store.putThumbnail(t);
    const deleted = await store.deleteMedia(r.origin, r.mediaId);
    assert.deepEqual(deleted, { media: r, thumbnails: [t1, t2] });
    assert.equal(await store.getMedia(r.origin, r.mediaId), undefined);
    assert.deepEqual(await store.getThumbnails(r.origin, r.mediaId), []);
    assert.deepEqual(await store.getThumbnails(other.origin, other.mediaId), [t3]);
    assert.equal(await store.deleteMedia(r.origin, r.mediaId), undefined);
    assert.deepEqual(await store.getMediaBySha256(r.sha256), []);
    assert.deepEqual((await store.listMediaByUploader(r.uploader!)).items.map(key), [key(other)]);
  },
  "setProtected sets and clears protection": async ({ store }) => {
    const r = media();
    await store.insertMedia(r);
    assert.equal(await store.setProtected(r.origin, r.mediaId, true), true);
    assert.equal((await store.getMedia(r.origin, r.mediaId))!.protected, true);
    assert.equal(await store.setProtected(r.origin, r.mediaId, false), true);
    assert.equal((await store.getMedia(r.origin, r.mediaId))!.protected, false);
    assert.equal(await store.setProtected(r.origin, "missing", true), false);
  },
} satisfies MetadataCases<MetadataRecordsCase>;
