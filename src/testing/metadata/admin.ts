// The admin API's queries: a user's media by offset in every order, expired local media and
// per-user statistics, the same rows in the same order on every store.
import assert from "node:assert/strict";
import type { UploaderMediaOrder } from "../../metadata/admin.js";
import type { MediaRecord } from "../../metadata/types.js";
import { media, newId, rejectsWith, type MetadataCases } from "./fixtures.js";

/** Cases of the `admin` group of `describeMetadataStore`. */
export type MetadataAdminCase =
  | "pageMediaByUploader pages by offset in every order, ties by media ID"
  | "pageMediaByUploader counts past the last page and refuses bad queries"
  | "listExpiredLocalMedia keeps recent, small, protected, quarantined and remote media"
  | "getUserMediaStatistics sums local media per user with filters and orders";

const ORDERS: readonly UploaderMediaOrder[] = [
  "mediaId",
  "filename",
  "createdAt",
  "lastAccessAt",
  "size",
  "contentType",
  "quarantined",
  "protected",
];

function expectedOrder(
  records: MediaRecord[],
  orderBy: UploaderMediaOrder,
  direction: "asc" | "desc",
): string[] {
  const sign = direction === "asc" ? 1 : -1;
  const value = (r: MediaRecord): number | string =>
    orderBy === "filename"
      ? r.filename === null
        ? ""
        : `~${r.filename}`
      : typeof r[orderBy] === "boolean"
        ? Number(r[orderBy])
        : r[orderBy];
  const cmp = (a: number | string, b: number | string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...records]
    .sort((a, b) => sign * cmp(value(a), value(b)) || cmp(a.mediaId, b.mediaId))
    .map((r) => r.mediaId);
}

/** @internal */
export const adminCases = {
  "pageMediaByUploader pages by offset in every order, ties by media ID": async ({ store }) => {
    const user = `@paged-${newId()}:example.org`;
    // Few distinct values per field, so ties (broken by media ID) are common.
    const records = Array.from({ length: 13 }, (_, i) =>
      media({
        uploader: user,
        mediaId: `id${String((i * 7) % 13).padStart(2, "0")}${newId()}`,
        filename: i % 4 === 0 ? null : `f${i % 3}.png`,
        contentType: ["image/png", "text/plain", "image/jpeg"][i % 3]!,
        size: 100 * (i % 4),
        createdAt: 1_700_000_000_000 + (i % 5) * 1000,
        lastAccessAt: 1_700_000_000_000 + (i % 6) * 1000,
        quarantined: i % 5 === 0,
        protected: i % 3 === 0,
      }),
    );
    for (const record of records) await store.insertMedia(record);
    await store.insertMedia(media({ uploader: `@other-${newId()}:example.org` }));
    for (const orderBy of ORDERS) {
      for (const direction of ["asc", "desc"] as const) {
        const seen: string[] = [];
        for (let offset = 0; offset < records.length; offset += 5) {
          const page = await store.pageMediaByUploader(user, {
            offset,
            limit: 5,
            orderBy,
            direction,
          });
          assert.equal(page.total, records.length);
          seen.push(...page.items.map((r) => r.mediaId));
        }
        assert.deepEqual(
          seen,
          expectedOrder(records, orderBy, direction),
          `${orderBy} ${direction}`,
        );
      }
    }
    const newest = await store.pageMediaByUploader(user);
    assert.deepEqual(
      newest.items.map((r) => r.mediaId),
      expectedOrder(records, "createdAt", "desc"),
      "default: newest first",
    );
  },
  "pageMediaByUploader counts past the last page and refuses bad queries": async ({ store }) => {
    const user = `@few-${newId()}:example.org`;
    await store.insertMedia(media({ uploader: user }));
    await store.insertMedia(media({ uploader: user }));
    assert.deepEqual(await store.pageMediaByUploader(user, { offset: 10 }), {
      items: [],
      total: 2,
    });
    assert.deepEqual(await store.pageMediaByUploader(`@none-${newId()}:x`), {
      items: [],
      total: 0,
    });
    await rejectsWith(store.pageMediaByUploader(user, { limit: 0 }), "M_INVALID_PARAM");
    await rejectsWith(store.pageMediaByUploader(user, { offset: -1 }), "M_INVALID_PARAM");
    await rejectsWith(
      store.pageMediaByUploader(user, { orderBy: "uploader; DROP" as UploaderMediaOrder }),
      "M_INVALID_PARAM",
    );
  },
  "listExpiredLocalMedia keeps recent, small, protected, quarantined and remote media": async ({
    store,
  }) => {
    const at = 1_000_000_000_000 + Math.floor(Math.random() * 1e9);
    const old = { lastAccessAt: at - 10, createdAt: at - 20, size: 500 };
    const expired = [media({ ...old }), media({ ...old, lastAccessAt: at - 5 })];
    const kept = [
      media({ ...old, lastAccessAt: at }),
      media({ ...old, size: 100 }),
      media({ ...old, protected: true }),
      media({ ...old, quarantined: true }),
      media({ ...old, kind: "remote", uploader: null, origin: "remote.example" }),
    ];
    for (const record of [...kept, ...expired]) await store.insertMedia(record);
    const found = await store.listExpiredLocalMedia({ before: at, sizeGt: 100, limit: 1000 });
    const mine = new Set([...expired, ...kept].map((r) => r.mediaId));
    assert.deepEqual(
      found.filter((r) => mine.has(r.mediaId)).map((r) => r.mediaId),
      expired.map((r) => r.mediaId),
      "oldest access first",
    );
    const [first] = await store.listExpiredLocalMedia({ before: at, sizeGt: 100, limit: 1 });
    assert.ok(first);
    const rest = await store.listExpiredLocalMedia({ before: at, sizeGt: 100, after: first });
    assert.ok(!rest.some((r) => r.mediaId === first.mediaId), "after skips the cursor's record");
    if (first.mediaId === expired[0]!.mediaId) {
      assert.ok(rest.some((r) => r.mediaId === expired[1]!.mediaId));
    }
    await rejectsWith(store.listExpiredLocalMedia({ before: -1 }), "M_INVALID_PARAM");
  },
  "getUserMediaStatistics sums local media per user with filters and orders": async ({ store }) => {
    const tag = newId().toLowerCase();
    const [a, b, c] = ["ann", "bob", "cyd"].map((n) => `@${n}_${tag}:example.org`) as [
      string,
      string,
      string,
    ];
    const t = 1_700_000_000_000;
    await store.insertMedia(media({ uploader: a, size: 10, createdAt: t }));
    await store.insertMedia(media({ uploader: a, size: 20, createdAt: t + 10 }));
    await store.insertMedia(media({ uploader: b, size: 300, createdAt: t + 20 }));
    await store.insertMedia(media({ uploader: c, size: 1, createdAt: t + 30 }));
    await store.insertMedia(media({ uploader: c, size: 1, createdAt: t + 30 }));
    await store.insertMedia(media({ uploader: c, size: 1, createdAt: t + 30 }));
    await store.insertMedia(media({ uploader: b, kind: "preview", size: 9, createdAt: t }));
    const search = tag.toUpperCase();
    const all = await store.getUserMediaStatistics({ search });
    assert.equal(all.total, 3);
    assert.deepEqual(all.items, [
      { userId: a, count: 2, bytes: 30 },
      { userId: b, count: 1, bytes: 300 },
      { userId: c, count: 3, bytes: 3 },
    ]);
    const ids = async (query: Parameters<typeof store.getUserMediaStatistics>[0]) =>
      (await store.getUserMediaStatistics({ search, ...query })).items.map((u) => u.userId);
    assert.deepEqual(await ids({ orderBy: "bytes", direction: "desc" }), [b, a, c]);
    assert.deepEqual(await ids({ orderBy: "count" }), [b, a, c]);
    assert.deepEqual(await ids({ direction: "desc", offset: 1, limit: 1 }), [b]);
    assert.deepEqual(await ids({ fromTs: t + 10, untilTs: t + 20 }), [a, b]);
    assert.deepEqual(await ids({ search: `bob_${tag}` }), [b]);
    assert.deepEqual(await ids({ search: "example.org" }), [], "the server name is not searched");
    assert.deepEqual(await ids({ search: `%_${tag}` }), [], "LIKE wildcards are literal");
    const past = await store.getUserMediaStatistics({ search, offset: 5 });
    assert.deepEqual(past, { items: [], total: 3 });
    await rejectsWith(
      store.getUserMediaStatistics({ orderBy: "displayname" as "userId" }),
      "M_INVALID_PARAM",
    );
  },
} satisfies MetadataCases<MetadataAdminCase>;
