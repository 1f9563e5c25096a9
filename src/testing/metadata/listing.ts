// Listing: a user's uploads by keyset pages, remote media by last access.
import assert from "node:assert/strict";
import type { MediaRecord } from "../../metadata/types.js";
import { newId, media, rejectsWith, keys, key, type MetadataCases } from "./fixtures.js";

/** Cases of the `listing` group of `describeMetadataStore`. */
export type MetadataListingCase =
  | "pages a user's uploads newest first with a stable cursor"
  | "lists remote media last accessed before T, oldest first, without protected media";

/** @internal */
export const listingCases = {
  "pages a user's uploads newest first with a stable cursor": async ({ store, peer }) => {
    const uploader = `@pager-${newId()}:example.org`;
    const base = 1_700_000_000_000;
    const records: MediaRecord[] = [];
    // Ties on createdAt on purpose: the cursor must still be exact.
    for (let i = 0; i < 23; i++)
      records.push(media({ uploader, createdAt: base + Math.floor(i / 3) }));
    await Promise.all(records.map((r) => store.insertMedia(r)));
    await store.insertMedia(media({ uploader: "@someone-else:example.org" }));

    const seen: MediaRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.listMediaByUploader(uploader, { limit: 5, cursor });
      assert.ok(page.items.length <= 5);
      seen.push(...page.items);
      cursor = page.nextCursor;
      // Concurrent uploads while paging land before the cursor and never shift a page.
      await peer.insertMedia(media({ uploader, createdAt: base + 1000 + pages }));
      pages++;
    } while (cursor !== undefined);
    assert.equal(pages, 5);
    assert.deepEqual(keys(seen), keys(records), "every record exactly once");
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i - 1]!.createdAt >= seen[i]!.createdAt, "newest first");
    }
    const all = await store.listMediaByUploader(uploader, { limit: 1000 });
    assert.equal(all.items.length, 23 + pages);
    assert.equal(all.nextCursor, undefined);
    assert.deepEqual(await store.listMediaByUploader("@nobody:example.org"), { items: [] });
    const exact = await store.listMediaByUploader(uploader, { limit: 23 + pages });
    assert.equal(exact.nextCursor, undefined, "no cursor when the last page is exactly full");
    await rejectsWith(
      store.listMediaByUploader(uploader, { cursor: "garbage!" }),
      "M_INVALID_PARAM",
    );
    await rejectsWith(store.listMediaByUploader(uploader, { limit: 0 }), "M_INVALID_PARAM");
    await rejectsWith(store.listMediaByUploader(uploader, { limit: 1.5 }), "M_INVALID_PARAM");
  },
  "lists remote media last accessed before T, oldest first, without protected media": async ({
    store,
  }) => {
    const t = 1_800_000_000_000;
    const old1 = media({
      origin: "remote.example",
      kind: "remote",
      uploader: null,
      lastAccessAt: t - 10,
    });
    const old2 = media({
      origin: "remote.example",
      kind: "remote",
      uploader: null,
      lastAccessAt: t - 20,
    });
    const fresh = media({
      origin: "remote.example",
      kind: "remote",
      uploader: null,
      lastAccessAt: t,
    });
    const prot = media({
      origin: "remote.example",
      kind: "remote",
      uploader: null,
      lastAccessAt: t - 30,
    });
    const local = media({ lastAccessAt: t - 40 });
    for (const r of [old1, old2, fresh, prot, local]) await store.insertMedia(r);
    assert.equal(await store.setProtected(prot.origin, prot.mediaId, true), true);
    const list = await store.listRemoteMediaAccessedBefore(t);
    assert.deepEqual(list.map(key), [old2, old1].map(key));
    assert.deepEqual((await store.listRemoteMediaAccessedBefore(t, { limit: 1 })).map(key), [
      key(old2),
    ]);
    assert.deepEqual(await store.listRemoteMediaAccessedBefore(t - 100), []);
  },
} satisfies MetadataCases<MetadataListingCase>;
