// The MetadataStore conformance suite: every store (ours and third parties') runs the same
// cases, so the repository can rely on one behaviour whatever the database.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { MediaError } from "../errors.js";
import type {
  MediaRecord,
  MetadataStore,
  PendingUpload,
  PreviewCacheEntry,
  ThumbnailRecord,
} from "../metadata/types.js";

/** What a {@link MetadataStoreFactory} returns when a store needs more than `close()`. */
export interface MetadataStoreFixture {
  store: MetadataStore;
  /**
   * A second store on the same data through its own connections (a second pool, a second
   * handle on the same file). Concurrency cases race `store` against `peer`.
   * @defaultValue `store`
   */
  peer?: MetadataStore;
  /** Runs after both stores are closed (drop a schema, delete a file). */
  cleanup?(): Promise<void>;
}

/** Makes an empty store (or fixture) for one case; called once per case. */
export type MetadataStoreFactory = () =>
  MetadataStore | MetadataStoreFixture | Promise<MetadataStore | MetadataStoreFixture>;

/** Options of {@link describeMetadataStore}. */
export interface DescribeMetadataStoreOptions {
  /** Cases to skip, by name, each with the reason (printed by the test runner). */
  skip?: Readonly<Record<string, string>>;
}

const HOSTILE = [
  `Robert'); DROP TABLE mmk_media;--`,
  `"double" 'single' \`back\` \\ backslash`,
  "semi;colons;; and -- comments /* block */",
  "%_ LIKE wildcards %% __",
  "emoji 🐈‍⬛🏳️‍🌈 and CJK 猫 and RTL עברית",
  "new\nline\ttab\r\n",
  "$1 $$dollar$$ quoting E'\\x00'",
];

let counter = 0;
/** A media ID unique across the whole test run. */
const newId = (): string =>
  `m${Date.now().toString(36)}${(counter++).toString(36)}${randomBytes(4).toString("hex")}`;
const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

function media(overrides: Partial<MediaRecord> = {}): MediaRecord {
  return {
    origin: "example.org",
    mediaId: newId(),
    kind: "local",
    contentType: "image/png",
    filename: "cat.png",
    size: 1234,
    sha256: sha(randomBytes(8).toString("hex")),
    datastoreId: "fs",
    location: `local/${randomBytes(6).toString("hex")}`,
    uploader: "@alice:example.org",
    createdAt: 1_700_000_000_000,
    lastAccessAt: 1_700_000_000_000,
    quarantined: false,
    protected: false,
    ...overrides,
  };
}

function thumb(of: MediaRecord, overrides: Partial<ThumbnailRecord> = {}): ThumbnailRecord {
  return {
    origin: of.origin,
    mediaId: of.mediaId,
    width: 96,
    height: 96,
    method: "crop",
    animated: false,
    contentType: "image/webp",
    size: 321,
    sha256: sha(randomBytes(8).toString("hex")),
    datastoreId: "fs",
    location: `thumb/${randomBytes(6).toString("hex")}`,
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

async function rejectsWith(promise: Promise<unknown>, errcode: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(MediaError.is(err), `expected a MediaError ${errcode}, got ${String(err)}`);
    assert.equal(err.errcode, errcode);
    return true;
  });
}

const key = (m: { origin: string; mediaId: string }): string => `${m.origin}/${m.mediaId}`;
const keys = (list: ReadonlyArray<{ origin: string; mediaId: string }>): string[] =>
  list.map(key).sort();

interface Ctx {
  store: MetadataStore;
  peer: MetadataStore;
}

/**
 * Registers the `MetadataStore` conformance suite with `node:test`. Each case gets a fresh,
 * empty store from `factory` (and closes it afterwards), so the cases can run in any order.
 *
 * @example
 * ```ts
 * import { describeMetadataStore } from "matrix-media-kit/testing";
 * import { memoryMetadataStore } from "matrix-media-kit/metadata";
 *
 * describeMetadataStore("memory", () => memoryMetadataStore());
 * describeMetadataStore("mine", () => myStore(), {
 *   skip: { "createPending enforces maxPendingPerUser atomically": "no pending uploads yet" },
 * });
 * ```
 */
export function describeMetadataStore(
  name: string,
  factory: MetadataStoreFactory,
  options: DescribeMetadataStoreOptions = {},
): void {
  const skip = options.skip ?? {};

  function test(caseName: string, fn: (ctx: Ctx) => Promise<void>): void {
    const reason = skip[caseName];
    if (reason !== undefined) {
      it(caseName, { skip: reason }, () => {});
      return;
    }
    it(caseName, async () => {
      const made = await factory();
      const fixture: MetadataStoreFixture =
        typeof (made as MetadataStore).insertMedia === "function"
          ? { store: made as MetadataStore }
          : (made as MetadataStoreFixture);
      const store = fixture.store;
      const peer = fixture.peer ?? store;
      try {
        await store.migrate?.();
        if (peer !== store) await peer.migrate?.();
        await fn({ store, peer });
      } finally {
        await store.close();
        if (peer !== store) await peer.close();
        await fixture.cleanup?.();
      }
    });
  }

  describe(`MetadataStore conformance: ${name}`, () => {
    test("inserts a record and returns it verbatim", async ({ store }) => {
      const r = media({ filename: null });
      await store.insertMedia(r);
      assert.deepEqual(await store.getMedia(r.origin, r.mediaId), r);
      assert.equal(await store.getMedia(r.origin, "nope"), undefined);
      assert.equal(await store.getMedia("other.example", r.mediaId), undefined);
      const remote = media({ origin: "remote.example", kind: "remote", uploader: null, size: 0 });
      await store.insertMedia(remote);
      assert.deepEqual(await store.getMedia(remote.origin, remote.mediaId), remote);
    });

    test("returns copies that callers cannot mutate", async ({ store }) => {
      const r = media();
      await store.insertMedia(r);
      r.filename = "changed-after-insert";
      const got = (await store.getMedia(r.origin, r.mediaId))!;
      assert.equal(got.filename, "cat.png");
      got.quarantined = true;
      assert.equal((await store.getMedia(r.origin, r.mediaId))!.quarantined, false);
    });

    test("refuses a taken (origin, mediaId) with M_CANNOT_OVERWRITE_MEDIA", async ({ store }) => {
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
    });

    test("finds every record by sha256", async ({ store }) => {
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
    });

    test("pages a user's uploads newest first with a stable cursor", async ({ store, peer }) => {
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
    });

    test("lists remote media last accessed before T, oldest first, without protected media", async ({
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
    });

    test("touchMedia records last access in one batch and never moves it back", async ({
      store,
    }) => {
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
    });

    test("deleteMedia removes the record and its thumbnails and returns them", async ({
      store,
    }) => {
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
    });

    test("setProtected sets and clears protection", async ({ store }) => {
      const r = media();
      await store.insertMedia(r);
      assert.equal(await store.setProtected(r.origin, r.mediaId, true), true);
      assert.equal((await store.getMedia(r.origin, r.mediaId))!.protected, true);
      assert.equal(await store.setProtected(r.origin, r.mediaId, false), true);
      assert.equal((await store.getMedia(r.origin, r.mediaId))!.protected, false);
      assert.equal(await store.setProtected(r.origin, "missing", true), false);
    });

    test("quarantine by sha256 marks every record sharing it, local and remote", async ({
      store,
    }) => {
      const hash = sha(`q-${newId()}`);
      const local = media({ sha256: hash });
      const otherUser = media({ sha256: hash, uploader: "@bob:example.org" });
      const remote = media({
        sha256: hash,
        origin: "remote.example",
        kind: "remote",
        uploader: null,
      });
      const unrelated = media();
      for (const r of [local, otherUser, remote, unrelated]) await store.insertMedia(r);
      const result = await store.quarantine({ sha256: hash });
      assert.deepEqual(keys(result.affected), keys([local, otherUser, remote]));
      for (const a of result.affected) assert.equal(a.sha256, hash);
      for (const r of [local, otherUser, remote]) {
        assert.equal((await store.getMedia(r.origin, r.mediaId))!.quarantined, true, key(r));
      }
      assert.equal((await store.getMedia(unrelated.origin, unrelated.mediaId))!.quarantined, false);
      assert.deepEqual(
        await store.quarantine({ sha256: hash }),
        { affected: [] },
        "nothing changed twice",
      );
    });

    test("quarantine of one mxc propagates to every record with the same hash", async ({
      store,
    }) => {
      const hash = sha(`q1-${newId()}`);
      const a = media({ sha256: hash });
      const b = media({ sha256: hash, origin: "remote.example", kind: "remote", uploader: null });
      for (const r of [a, b]) await store.insertMedia(r);
      const result = await store.quarantine({ mxc: { origin: b.origin, mediaId: b.mediaId } });
      assert.deepEqual(keys(result.affected), keys([a, b]));
      assert.equal((await store.getMedia(a.origin, a.mediaId))!.quarantined, true);
      assert.deepEqual(
        await store.quarantine({ mxc: { origin: "x.example", mediaId: "missing" } }),
        {
          affected: [],
        },
      );
    });

    test("quarantine skips protected media", async ({ store }) => {
      const hash = sha(`qp-${newId()}`);
      const prot = media({ sha256: hash });
      const plain = media({ sha256: hash, uploader: "@bob:example.org" });
      for (const r of [prot, plain]) await store.insertMedia(r);
      await store.setProtected(prot.origin, prot.mediaId, true);
      const result = await store.quarantine({
        mxc: { origin: prot.origin, mediaId: prot.mediaId },
      });
      assert.deepEqual(keys(result.affected), keys([plain]));
      assert.equal((await store.getMedia(prot.origin, prot.mediaId))!.quarantined, false);
      assert.equal((await store.getMedia(plain.origin, plain.mediaId))!.quarantined, true);
    });

    test("quarantine by a list of mxc URIs (room quarantine)", async ({ store }) => {
      const shared = sha(`room-${newId()}`);
      const inRoom1 = media();
      const inRoom2 = media({
        origin: "remote.example",
        kind: "remote",
        uploader: null,
        sha256: shared,
      });
      const twin = media({ sha256: shared, uploader: "@carol:example.org" });
      const outside = media();
      for (const r of [inRoom1, inRoom2, twin, outside]) await store.insertMedia(r);
      const result = await store.quarantine({
        mxcs: [inRoom1, inRoom2, { origin: "gone.example", mediaId: "never-fetched" }].map((r) => ({
          origin: r.origin,
          mediaId: r.mediaId,
        })),
      });
      assert.deepEqual(keys(result.affected), keys([inRoom1, inRoom2, twin]));
      assert.equal((await store.getMedia(outside.origin, outside.mediaId))!.quarantined, false);
      assert.deepEqual(await store.quarantine({ mxcs: [] }), { affected: [] });
    });

    test("quarantine by uploader marks their media and its twins", async ({ store }) => {
      const uploader = `@spammer-${newId()}:example.org`;
      const a = media({ uploader });
      const b = media({ uploader });
      const twin = media({
        sha256: a.sha256,
        origin: "remote.example",
        kind: "remote",
        uploader: null,
      });
      const bystander = media();
      for (const r of [a, b, twin, bystander]) await store.insertMedia(r);
      const result = await store.quarantine({ uploader });
      assert.deepEqual(keys(result.affected), keys([a, b, twin]));
      assert.equal((await store.getMedia(bystander.origin, bystander.mediaId))!.quarantined, false);
    });

    test("unquarantine clears the flag by hash and reports what changed", async ({ store }) => {
      const hash = sha(`uq-${newId()}`);
      const a = media({ sha256: hash });
      const b = media({ sha256: hash, uploader: "@bob:example.org" });
      const c = media({
        sha256: hash,
        uploader: "@carol:example.org",
        quarantined: true,
        protected: true,
      });
      for (const r of [a, b, c]) await store.insertMedia(r);
      const set = await store.quarantine({ sha256: hash }, true);
      assert.deepEqual(keys(set.affected), keys([a, b]), "c was already quarantined");
      const cleared = await store.quarantine(
        { mxc: { origin: a.origin, mediaId: a.mediaId } },
        false,
      );
      assert.deepEqual(
        keys(cleared.affected),
        keys([a, b, c]),
        "clearing also applies to protected media",
      );
      for (const r of [a, b, c])
        assert.equal((await store.getMedia(r.origin, r.mediaId))!.quarantined, false);
    });

    test("pending uploads: create, get, complete", async ({ store }) => {
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
    });

    test("completePending of a missing or expired upload gives M_NOT_FOUND", async ({ store }) => {
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
    });

    test("concurrent completePending: exactly one wins, the others get M_CANNOT_OVERWRITE_MEDIA", async ({
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
        assert.deepEqual(
          await store.getUsage(uploader),
          { bytes: r.size, count: 1 },
          "counted once",
        );
      }
    });

    test("createPending enforces maxPendingPerUser atomically", async ({ store, peer }) => {
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
    });

    test("createPending refuses a media ID that already holds media", async ({ store }) => {
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
    });

    test("deleteExpiredPending removes only expired uploads", async ({ store }) => {
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
    });

    test("putThumbnail inserts or replaces by (media, width, height, method, animated)", async ({
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
    });

    test("preview cache: put, get, replace, delete expired", async ({ store }) => {
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
    });

    test("usage counts local media per uploader, incrementally", async ({ store }) => {
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
    });

    test("usage counters are exact after 1,000 concurrent inserts and deletes", async ({
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
    });

    test("stores hostile strings verbatim", async ({ store }) => {
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
    });

    test("refuses NUL bytes cleanly with M_INVALID_PARAM", async ({ store }) => {
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
    });

    test("refuses malformed values with M_INVALID_PARAM", async ({ store }) => {
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
    });
  });
}
