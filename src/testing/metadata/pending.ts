// Pending (async) uploads: create, complete with exactly one winner, limits, expiry.
import assert from "node:assert/strict";
import { MediaError } from "../../errors.js";
import type { PendingUpload } from "../../metadata/types.js";
import { newId, media, rejectsWith, type MetadataCases } from "./fixtures.js";

/** Cases of the `pending` group of `describeMetadataStore`. */
export type MetadataPendingCase =
  | "pending uploads: create, get, complete"
  | "completePending of a missing or expired upload gives M_NOT_FOUND"
  | "concurrent completePending: exactly one wins, the others get M_CANNOT_OVERWRITE_MEDIA"
  | "createPending enforces maxPendingPerUser atomically"
  | "createPending refuses a media ID that already holds media"
  | "deleteExpiredPending removes only expired uploads";

/** @internal */
export const pendingCases = {
  "pending uploads: create, get, complete": async ({ store }) => {
    const r = media();
    const p: PendingUpload = {
      origin: r.origin,
      mediaId: r.mediaId,
      creator: r.uploader!,
      createdAt: 1000,
      expiresAt: 1000 + 86_400_000,
    };
    await store.createPending(p);
    assert.deepEqual(await store.getPending(p.origin, p.mediaId), p);
    assert.equal(await store.getMedia(r.origin, r.mediaId), undefined);
    await rejectsWith(store.createPending(p), "M_CANNOT_OVERWRITE_MEDIA");
    await store.completePending(r, 2000);
    assert.deepEqual(await store.getMedia(r.origin, r.mediaId), r);
    assert.equal(await store.getPending(p.origin, p.mediaId), undefined);
    assert.deepEqual(await store.getUsage(r.uploader!), { bytes: r.size, count: 1 });
    await rejectsWith(store.completePending(r, 2000), "M_CANNOT_OVERWRITE_MEDIA");
    await rejectsWith(store.createPending({ ...p, createdAt: 3000 }), "M_CANNOT_OVERWRITE_MEDIA");
  },
  "completePending of a missing or expired upload gives M_NOT_FOUND": async ({ store }) => {
    const r = media();
    await rejectsWith(store.completePending(r, 2000), "M_NOT_FOUND");
    await store.createPending({
      origin: r.origin,
      mediaId: r.mediaId,
      creator: r.uploader!,
      createdAt: 1000,
      expiresAt: 5000,
    });
    await rejectsWith(store.completePending(r, 5000), "M_NOT_FOUND");
    assert.equal(await store.getMedia(r.origin, r.mediaId), undefined);
    assert.deepEqual(await store.getUsage(r.uploader!), { bytes: 0, count: 0 });
  },
  "concurrent completePending: exactly one wins, the others get M_CANNOT_OVERWRITE_MEDIA": async ({
    store,
    peer,
  }) => {
    for (let round = 0; round < 5; round++) {
      const uploader = `@racer-${newId()}:example.org`;
      const r = media({ uploader });
      await store.createPending({
        origin: r.origin,
        mediaId: r.mediaId,
        creator: uploader,
        createdAt: 1000,
        expiresAt: 100_000,
      });
      const contenders = [store, peer, store, peer].map((s, i) =>
        s.completePending({ ...r, location: `attempt-${i}` }, 2000),
      );
      const outcomes = await Promise.allSettled(contenders);
      const winners = outcomes.filter((o) => o.status === "fulfilled");
      assert.equal(winners.length, 1, "exactly one winner");
      for (const o of outcomes) {
        if (o.status === "rejected") {
          assert.ok(MediaError.is(o.reason), String(o.reason));
          assert.equal(o.reason.errcode, "M_CANNOT_OVERWRITE_MEDIA");
        }
      }
      const stored = (await peer.getMedia(r.origin, r.mediaId))!;
      assert.equal(
        stored.location,
        `attempt-${outcomes.findIndex((o) => o.status === "fulfilled")}`,
      );
      assert.deepEqual(await store.getUsage(uploader), { bytes: r.size, count: 1 }, "counted once");
    }
  },
  "createPending enforces maxPendingPerUser atomically": async ({ store, peer }) => {
    const creator = `@busy-${newId()}:example.org`;
    const now = 10_000;
    // One expired pending upload does not count.
    await store.createPending({
      origin: "example.org",
      mediaId: newId(),
      creator,
      createdAt: 1,
      expiresAt: now,
    });
    const attempts = Array.from({ length: 12 }, (_, i) =>
      (i % 2 ? peer : store).createPending(
        {
          origin: "example.org",
          mediaId: newId(),
          creator,
          createdAt: now,
          expiresAt: now + 60_000,
        },
        { maxPendingPerUser: 5 },
      ),
    );
    const outcomes = await Promise.allSettled(attempts);
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 5);
    for (const o of outcomes) {
      if (o.status === "rejected") {
        assert.ok(MediaError.is(o.reason), String(o.reason));
        assert.equal(o.reason.errcode, "M_LIMIT_EXCEEDED");
      }
    }
    // Another user is not affected.
    await store.createPending(
      {
        origin: "example.org",
        mediaId: newId(),
        creator: "@other:example.org",
        createdAt: now,
        expiresAt: now + 1,
      },
      { maxPendingPerUser: 5 },
    );
    await rejectsWith(
      store.createPending(
        { origin: "example.org", mediaId: newId(), creator, createdAt: now, expiresAt: now + 1 },
        { maxPendingPerUser: 0 },
      ),
      "M_INVALID_PARAM",
    );
  },
  "createPending refuses a media ID that already holds media": async ({ store }) => {
    const r = media();
    await store.insertMedia(r);
    await rejectsWith(
      store.createPending({
        origin: r.origin,
        mediaId: r.mediaId,
        creator: "@x:example.org",
        createdAt: 1,
        expiresAt: 2,
      }),
      "M_CANNOT_OVERWRITE_MEDIA",
    );
    assert.equal(await store.getPending(r.origin, r.mediaId), undefined);
  },
  "deleteExpiredPending removes only expired uploads": async ({ store }) => {
    const make = (expiresAt: number): PendingUpload => ({
      origin: "example.org",
      mediaId: newId(),
      creator: "@alice:example.org",
      createdAt: 0,
      expiresAt,
    });
    const a = make(100);
    const b = make(200);
    const c = make(300);
    for (const p of [a, b, c]) await store.createPending(p);
    assert.equal(await store.deleteExpiredPending(200), 2);
    assert.equal(await store.getPending(a.origin, a.mediaId), undefined);
    assert.equal(await store.getPending(b.origin, b.mediaId), undefined);
    assert.deepEqual(await store.getPending(c.origin, c.mediaId), c);
    assert.equal(await store.deleteExpiredPending(200), 0);
  },
} satisfies MetadataCases<MetadataPendingCase>;
