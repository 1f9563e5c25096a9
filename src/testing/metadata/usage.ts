// Usage counters: incremental, exact under concurrency.
import assert from "node:assert/strict";
import { newId, media, key, type MetadataCases } from "./fixtures.js";

/** Cases of the `usage` group of `describeMetadataStore`. */
export type MetadataUsageCase =
  | "usage counts local media per uploader, incrementally"
  | "usage counters are exact after 1,000 concurrent inserts and deletes";

/** @internal */
export const usageCases = {
  "usage counts local media per uploader, incrementally": async ({ store }) => {
    const user = `@counted-${newId()}:example.org`;
    assert.deepEqual(await store.getUsage(user), { bytes: 0, count: 0 });
    const a = media({ uploader: user, size: 100 });
    const b = media({ uploader: user, size: 250 });
    await store.insertMedia(a);
    await store.insertMedia(b);
    // Remote media and previews never count against a local user.
    await store.insertMedia(
      media({ uploader: null, kind: "remote", origin: "remote.example", size: 7 }),
    );
    await store.insertMedia(media({ uploader: user, kind: "preview", size: 9 }));
    assert.deepEqual(await store.getUsage(user), { bytes: 350, count: 2 });
    await store.quarantine({ sha256: a.sha256 });
    assert.deepEqual(
      await store.getUsage(user),
      { bytes: 350, count: 2 },
      "quarantine keeps usage",
    );
    await store.deleteMedia(a.origin, a.mediaId);
    assert.deepEqual(await store.getUsage(user), { bytes: 250, count: 1 });
    await store.deleteMedia(a.origin, a.mediaId);
    assert.deepEqual(
      await store.getUsage(user),
      { bytes: 250, count: 1 },
      "a second delete is a no-op",
    );
  },
  "usage counters are exact after 1,000 concurrent inserts and deletes": async ({
    store,
    peer,
  }) => {
    const users = [0, 1, 2, 3].map((i) => `@load${i}-${newId()}:example.org`);
    const records = Array.from({ length: 1000 }, (_, i) =>
      media({ uploader: users[i % users.length]!, size: 1 + ((i * 7919) % 5000) }),
    );
    // The first 500 are inserted, then deleted while the other 500 are being inserted.
    await Promise.all(records.slice(0, 500).map((r, i) => (i % 2 ? peer : store).insertMedia(r)));
    const toDelete = records.slice(0, 500).filter((_, i) => i % 3 === 0);
    await Promise.all([
      ...records.slice(500).map((r, i) => (i % 2 ? store : peer).insertMedia(r)),
      ...toDelete.map(async (r, i) => {
        // Some records are deleted twice at once: exactly one delete returns it.
        const twice = i < 20;
        const results = await Promise.all([
          (i % 2 ? store : peer).deleteMedia(r.origin, r.mediaId),
          twice ? (i % 2 ? peer : store).deleteMedia(r.origin, r.mediaId) : undefined,
        ]);
        assert.equal(results.filter((d) => d !== undefined).length, 1, key(r));
      }),
    ]);
    const deleted = new Set(toDelete.map(key));
    for (const user of users) {
      const kept = records.filter((r) => r.uploader === user && !deleted.has(key(r)));
      const expected = { bytes: kept.reduce((n, r) => n + r.size, 0), count: kept.length };
      assert.deepEqual(await store.getUsage(user), expected, user);
      assert.deepEqual(await peer.getUsage(user), expected, user);
    }
  },
} satisfies MetadataCases<MetadataUsageCase>;
