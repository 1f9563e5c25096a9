// Hardening: hostile strings round-trip verbatim; unstorable and malformed values are refused.
import assert from "node:assert/strict";
import type { MediaRecord } from "../../metadata/types.js";
import {
  HOSTILE,
  newId,
  sha,
  media,
  thumb,
  rejectsNaming,
  rejectsWith,
  type MetadataCases,
} from "./fixtures.js";

/** Passes a value the type forbids, as an untyped caller could. */
const untyped = <T>(value: unknown): T => value as T;

/** Cases of the `hardening` group of `describeMetadataStore`. */
export type MetadataHardeningCase =
  | "stores hostile strings verbatim"
  | "refuses NUL bytes cleanly with M_INVALID_PARAM"
  | "refuses malformed values with M_INVALID_PARAM"
  | "refuses a bad argument of every method with M_INVALID_PARAM naming it";

/** @internal */
export const hardeningCases = {
  "stores hostile strings verbatim": async ({ store }) => {
    for (const text of HOSTILE) {
      const uploader = `@${text}:example.org`;
      const r = media({
        filename: text,
        uploader,
        contentType: `text/plain; charset="${text}"`,
        location: `dir/${text}`,
        datastoreId: text,
        origin: `${text}.example`,
        mediaId: `${text}-${newId()}`,
      });
      await store.insertMedia(r);
      assert.deepEqual(await store.getMedia(r.origin, r.mediaId), r, JSON.stringify(text));
      assert.deepEqual((await store.listMediaByUploader(uploader)).items, [r]);
      assert.deepEqual(await store.getUsage(uploader), { bytes: r.size, count: 1 });
      const t = thumb(r, { location: text, contentType: text });
      await store.putThumbnail(t);
      assert.deepEqual(await store.getThumbnails(r.origin, r.mediaId), [t]);
      const e = {
        url: `https://x.example/${text}`,
        bucket: 0,
        language: text,
        json: JSON.stringify(text),
        expiresAt: 1,
      };
      await store.putPreview(e);
      assert.deepEqual(await store.getPreview(e.url, 0, text), e);
      const p = {
        origin: r.origin,
        mediaId: `p-${newId()}`,
        creator: uploader,
        createdAt: 1,
        expiresAt: 2,
      };
      await store.createPending(p);
      assert.deepEqual(await store.getPending(p.origin, p.mediaId), p);
      const q = await store.quarantine({ uploader });
      assert.deepEqual(q.affected, [{ origin: r.origin, mediaId: r.mediaId, sha256: r.sha256 }]);
    }
    // Wildcards in a lookup are not patterns.
    assert.deepEqual((await store.listMediaByUploader("%")).items, []);
    assert.equal(await store.getMedia("%", "%"), undefined);
  },
  "refuses NUL bytes cleanly with M_INVALID_PARAM": async ({ store }) => {
    const bad = "nul\0byte";
    const r = media();
    for (const field of [
      "origin",
      "mediaId",
      "contentType",
      "filename",
      "datastoreId",
      "location",
      "uploader",
    ] as const) {
      await rejectsWith(store.insertMedia({ ...r, [field]: bad }), "M_INVALID_PARAM");
    }
    await rejectsWith(
      store.insertMedia({ ...r, filename: "\ud800 lone surrogate" }),
      "M_INVALID_PARAM",
    );
    assert.equal(await store.getMedia(r.origin, r.mediaId), undefined, "nothing was stored");
    await store.insertMedia(r);
    await rejectsWith(store.getMedia(bad, r.mediaId), "M_INVALID_PARAM");
    await rejectsWith(store.getMedia(r.origin, bad), "M_INVALID_PARAM");
    await rejectsWith(store.listMediaByUploader(bad), "M_INVALID_PARAM");
    await rejectsWith(store.getUsage(bad), "M_INVALID_PARAM");
    await rejectsWith(store.quarantine({ uploader: bad }), "M_INVALID_PARAM");
    await rejectsWith(
      store.quarantine({ mxc: { origin: r.origin, mediaId: bad } }),
      "M_INVALID_PARAM",
    );
    await rejectsWith(
      store.touchMedia([{ origin: bad, mediaId: r.mediaId, at: 1 }]),
      "M_INVALID_PARAM",
    );
    await rejectsWith(
      store.createPending({
        origin: r.origin,
        mediaId: "p1",
        creator: bad,
        createdAt: 1,
        expiresAt: 2,
      }),
      "M_INVALID_PARAM",
    );
    await rejectsWith(store.putThumbnail(thumb(r, { location: bad })), "M_INVALID_PARAM");
    await rejectsWith(
      store.putPreview({
        url: "https://x.example/",
        bucket: 0,
        language: "",
        json: bad,
        expiresAt: 1,
      }),
      "M_INVALID_PARAM",
    );
    await rejectsWith(store.getPreview("https://x.example/", 0, bad), "M_INVALID_PARAM");
    assert.deepEqual(await store.getMedia(r.origin, r.mediaId), r);
  },
  "refuses malformed values with M_INVALID_PARAM": async ({ store }) => {
    const r = media();
    const cases: Array<Partial<Record<keyof MediaRecord, unknown>>> = [
      { size: -1 },
      { size: 1.5 },
      { size: Number.NaN },
      { createdAt: "yesterday" },
      { sha256: "ABC" },
      { sha256: sha("x").toUpperCase() },
      { kind: "thumbnail" },
      { quarantined: "no" },
      { origin: "" },
      { mediaId: "" },
    ];
    for (const c of cases) {
      await rejectsWith(store.insertMedia({ ...r, ...c } as MediaRecord), "M_INVALID_PARAM");
    }
    await rejectsWith(store.quarantine({ sha256: "nope" }), "M_INVALID_PARAM");
    await rejectsWith(store.putThumbnail(thumb(r, { width: 0 })), "M_INVALID_PARAM");
    await rejectsWith(
      store.putThumbnail(thumb(r, { method: "stretch" as "crop" })),
      "M_INVALID_PARAM",
    );
    assert.equal(await store.getMedia(r.origin, r.mediaId), undefined);
  },
  // Every store is held to the same validator: the same refusals, naming the same fields.
  "refuses a bad argument of every method with M_INVALID_PARAM naming it": async ({ store }) => {
    const r = media();
    const { origin, mediaId } = r;
    const pending = { origin, mediaId, creator: "@alice:example.org", createdAt: 1, expiresAt: 2 };
    const preview = {
      url: "https://x.example/",
      bucket: 0,
      language: "",
      json: "{}",
      expiresAt: 1,
    };
    await rejectsNaming(store.insertMedia({ ...r, size: -1 }), "size");
    await rejectsNaming(store.insertMedia({ ...r, uploader: untyped(7) }), "uploader");
    await rejectsNaming(store.completePending(r, -1), "now");
    await rejectsNaming(store.completePending({ ...r, sha256: "x" }, 1), "sha256");
    await rejectsNaming(store.getMedia(origin, ""), "mediaId");
    await rejectsNaming(store.deleteMedia("", mediaId), "origin");
    await rejectsNaming(store.setProtected(origin, mediaId, untyped("yes")), "protected");
    await rejectsNaming(store.quarantine({ sha256: r.sha256 }, untyped("yes")), "value");
    await rejectsNaming(store.quarantine({ mxcs: [{ origin, mediaId: "" }] }), "mxc.mediaId");
    await rejectsNaming(store.listMediaByUploader(""), "uploader");
    await rejectsNaming(store.listRemoteMediaAccessedBefore(1.5), "before");
    await rejectsNaming(store.listRemoteMediaAccessedBefore(1, { limit: 1001 }), "limit");
    await rejectsNaming(store.touchMedia([{ origin, mediaId, at: -1 }]), "at");
    await rejectsNaming(
      store.createPending({ ...pending, expiresAt: untyped("soon") }),
      "expiresAt",
    );
    await rejectsNaming(
      store.createPending(pending, { maxPendingPerUser: 0 }),
      "maxPendingPerUser",
    );
    await rejectsNaming(store.getPending(origin, ""), "mediaId");
    await rejectsNaming(store.deleteExpiredPending(-1), "now");
    await rejectsNaming(store.putThumbnail(thumb(r, { height: 0 })), "height");
    await rejectsNaming(store.putThumbnail(thumb(r, { animated: untyped("no") })), "animated");
    await rejectsNaming(store.getThumbnails("", mediaId), "origin");
    await rejectsNaming(store.putPreview({ ...preview, bucket: 1.5 }), "bucket");
    await rejectsNaming(store.getPreview(preview.url, -1, ""), "bucket");
    await rejectsNaming(store.deleteExpiredPreviews(Number.NaN), "now");
    await rejectsNaming(store.getUsage(""), "userId");
    assert.equal(await store.getMedia(origin, mediaId), undefined, "no media was stored");
    assert.equal(await store.getPending(origin, mediaId), undefined, "no upload is pending");
    assert.deepEqual(await store.getThumbnails(origin, mediaId), []);
  },
} satisfies MetadataCases<MetadataHardeningCase>;
