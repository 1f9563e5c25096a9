// Background jobs: local media by last access (local retention) and thumbnails by hash
// (orphan blob collection on a thumbnail datastore).
import assert from "node:assert/strict";
import { key, media, sha, thumb, type MetadataCases } from "./fixtures.js";

/** Cases of the `background-jobs` group of `describeMetadataStore`. */
export type MetadataBackgroundCase =
  | "lists local media last accessed before T, oldest first, without protected media"
  | "finds every thumbnail of a SHA-256, across media";

/** @internal */
export const backgroundCases = {
  "lists local media last accessed before T, oldest first, without protected media": async ({
    store,
  }) => {
    const t = 1_800_000_000_000;
    const old1 = media({ lastAccessAt: t - 10 });
    const old2 = media({ lastAccessAt: t - 20 });
    const fresh = media({ lastAccessAt: t });
    const prot = media({ lastAccessAt: t - 30 });
    const remote = media({
      origin: "remote.example",
      kind: "remote",
      uploader: null,
      lastAccessAt: t - 40,
    });
    for (const r of [old1, old2, fresh, prot, remote]) await store.insertMedia(r);
    assert.equal(await store.setProtected(prot.origin, prot.mediaId, true), true);
    assert.deepEqual((await store.listLocalMediaAccessedBefore(t)).map(key), [old2, old1].map(key));
    assert.deepEqual((await store.listLocalMediaAccessedBefore(t, { limit: 1 })).map(key), [
      key(old2),
    ]);
    assert.deepEqual(await store.listLocalMediaAccessedBefore(t - 100), []);
    await store.touchMedia([{ origin: old2.origin, mediaId: old2.mediaId, at: t + 5 }]);
    assert.deepEqual((await store.listLocalMediaAccessedBefore(t)).map(key), [key(old1)]);
    await assert.rejects(store.listLocalMediaAccessedBefore(t, { limit: 0 }));
  },
  "finds every thumbnail of a SHA-256, across media": async ({ store, peer }) => {
    const shared = sha("one thumbnail blob");
    const a = media({ origin: "a.example" });
    const b = media({ origin: "b.example" });
    for (const r of [a, b]) await store.insertMedia(r);
    const small = thumb(b, { width: 32, height: 32, sha256: shared });
    const large = thumb(b, { width: 96, height: 96, sha256: shared });
    const ofA = thumb(a, { sha256: shared });
    const other = thumb(a, { width: 320, height: 240, method: "scale" });
    for (const t of [large, other, ofA, small]) await store.putThumbnail(t);
    const found = await peer.getThumbnailsBySha256(shared);
    assert.deepEqual(found, [ofA, small, large], "by origin, media ID, then size");
    assert.deepEqual(await store.getThumbnailsBySha256(sha("nothing")), []);
    await store.deleteMedia(b.origin, b.mediaId);
    assert.deepEqual(await store.getThumbnailsBySha256(shared), [ofA]);
  },
} satisfies MetadataCases<MetadataBackgroundCase>;
