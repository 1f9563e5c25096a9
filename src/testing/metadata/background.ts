// Background jobs: thumbnails by hash (orphan blob collection on a thumbnail datastore).
import assert from "node:assert/strict";
import { media, sha, thumb, type MetadataCases } from "./fixtures.js";

/** Cases of the `background-jobs` group of `describeMetadataStore`. */
export type MetadataBackgroundCase = "finds every thumbnail of a SHA-256, across media";

/** @internal */
export const backgroundCases = {
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
