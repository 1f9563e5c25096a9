// Thumbnail records and the URL preview cache.
import assert from "node:assert/strict";
import type { PreviewCacheEntry } from "../../metadata/types.js";
import { sha, media, thumb, type MetadataCases } from "./fixtures.js";

/** Cases of the `thumbnails-and-previews` group of `describeMetadataStore`. */
export type MetadataThumbnailsAndPreviewsCase =
  | "putThumbnail inserts or replaces by (media, width, height, method, animated)"
  | "preview cache: put, get, replace, delete expired";

/** @internal */
export const thumbnailsAndPreviewsCases = {
  "putThumbnail inserts or replaces by (media, width, height, method, animated)": async ({
    store,
  }) => {
    const r = media();
    await store.insertMedia(r);
    const crop = thumb(r);
    const scale = thumb(r, { method: "scale" });
    const animated = thumb(r, { animated: true, contentType: "image/gif" });
    for (const t of [animated, scale, crop]) await store.putThumbnail(t);
    assert.deepEqual(await store.getThumbnails(r.origin, r.mediaId), [crop, animated, scale]);
    const replaced = { ...crop, size: 999, location: "thumb/replaced", sha256: sha("replaced") };
    await store.putThumbnail(replaced);
    assert.deepEqual(await store.getThumbnails(r.origin, r.mediaId), [replaced, animated, scale]);
    assert.deepEqual(await store.getThumbnails(r.origin, "none"), []);
  },
  "preview cache: put, get, replace, delete expired": async ({ store }) => {
    const e: PreviewCacheEntry = {
      url: "https://example.org/a?b=c&d='e'",
      bucket: 1_700_000_000_000 - (1_700_000_000_000 % 3_600_000),
      language: "en-GB,en;q=0.8",
      json: JSON.stringify({ "og:title": "Hello 🌍", "og:description": '"quoted"; DROP' }),
      expiresAt: 5000,
    };
    await store.putPreview(e);
    assert.deepEqual(await store.getPreview(e.url, e.bucket, e.language), e);
    assert.equal(await store.getPreview(e.url, e.bucket, ""), undefined);
    assert.equal(await store.getPreview(e.url, e.bucket + 3_600_000, e.language), undefined);
    const noLang = { ...e, language: "", expiresAt: 9000 };
    await store.putPreview(noLang);
    const replaced = { ...e, json: "{}", expiresAt: 6000 };
    await store.putPreview(replaced);
    assert.deepEqual(await store.getPreview(e.url, e.bucket, e.language), replaced);
    assert.equal(await store.deleteExpiredPreviews(6000), 1);
    assert.equal(await store.getPreview(e.url, e.bucket, e.language), undefined);
    assert.deepEqual(await store.getPreview(e.url, e.bucket, ""), noLang);
  },
} satisfies MetadataCases<MetadataThumbnailsAndPreviewsCase>;
