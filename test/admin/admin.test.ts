// The Synapse-compatible admin API through the HTTP handler, against the memory and the
// PostgreSQL metadata stores: shapes, paging, orders, bulk deletes, hooks, audit and refusals.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { memoryMetadataStore, postgresMetadataStore } from "../../src/metadata/index.js";
import type { MetadataStore } from "../../src/metadata/types.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";
import { request } from "../http/fixture.js";
import { ADMIN, createAdminFixture, keysOf, seed, SERVER, type AdminFixture } from "./fixture.js";

const V1 = "/_synapse/admin/v1";
const alice = "@alice:test.local";
const bob = "@bob:test.local";

let db: TestDatabase | undefined;
let schemas = 0;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

const STORES: Record<string, () => MetadataStore> = {
  memory: () => memoryMetadataStore(),
  postgres: () => postgresMetadataStore({ pool: db!.pool, schema: `admin_${schemas++}` }),
};

async function withFixture(
  store: () => MetadataStore,
  run: (f: AdminFixture) => Promise<void>,
  options: Parameters<typeof createAdminFixture>[1] = {},
): Promise<void> {
  const f = await createAdminFixture(store(), options);
  try {
    await run(f);
  } finally {
    await f.close();
  }
}

const get = (f: AdminFixture, path: string, token = ADMIN) =>
  request(f.baseUrl, "GET", path, { token });
const post = (f: AdminFixture, path: string, token = ADMIN) =>
  request(f.baseUrl, "POST", path, { token, body: "{}" });
const del = (f: AdminFixture, path: string, token = ADMIN) =>
  request(f.baseUrl, "DELETE", path, { token });

for (const [name, store] of Object.entries(STORES)) {
  describe(`admin API on ${name} metadata`, () => {
    it("media info has Synapse's media_info shape; protect and unprotect show in it", async () => {
      await withFixture(store, async (f) => {
        const [id] = await seed(f.repo, alice, 1);
        const info = await get(f, `${V1}/media/${SERVER}/${id}`);
        assert.equal(info.status, 200);
        const m = info.json().media_info;
        assert.equal(m.media_id, id);
        assert.equal(m.user_id, alice);
        assert.equal(m.media_origin, null);
        assert.equal(m.media_type, "text/plain");
        assert.equal(m.upload_name, "f0.txt");
        assert.equal(m.safe_from_quarantine, false);
        assert.equal(m.quarantined_by, null);
        assert.match(m.sha256, /^[0-9a-f]{64}$/);
        assert.equal((await post(f, `${V1}/media/protect/${id}`)).status, 200);
        assert.equal(
          (await get(f, `${V1}/media/${SERVER}/${id}`)).json().media_info.safe_from_quarantine,
          true,
        );
        assert.equal((await post(f, `${V1}/media/unprotect/${id}`)).status, 200);
        assert.equal(
          (await get(f, `${V1}/media/${SERVER}/${id}`)).json().media_info.safe_from_quarantine,
          false,
        );
        assert.equal(
          (await get(f, `${V1}/media/${SERVER}/nosuchmedia`)).json().errcode,
          "M_NOT_FOUND",
        );
        assert.equal((await post(f, `${V1}/media/protect/nosuchmedia`)).status, 404);
        assert.deepEqual(
          f.audit.map((a) => a.action),
          [
            "admin_media_info",
            "admin_protect",
            "admin_media_info",
            "admin_unprotect",
            "admin_media_info",
          ],
        );
        assert.equal(f.audit[1]!.admin, "@admin:test.local");
        assert.ok(
          f.logged.some(
            (l) => l.message === "admin action" && l.details?.action === "admin_protect",
          ),
        );
      });
    });

    it("quarantines by user (protected media stays), by sha256, and by room through the hook", async () => {
      const rooms: string[] = [];
      let roomMxcs: Array<{ origin: string; mediaId: string }> = [];
      await withFixture(
        store,
        async (f) => {
          const ids = await seed(f.repo, alice, 3);
          await post(f, `${V1}/media/protect/${ids[0]}`);
          const byUser = await post(f, `${V1}/user/${encodeURIComponent(alice)}/media/quarantine`);
          assert.deepEqual(byUser.json(), { num_quarantined: 2 });
          assert.equal(f.audit.at(-1)!.count, 2);
          const [bobId] = await seed(f.repo, bob, 1, () => "bob's bytes");
          const sha = (await f.metadata.getMedia(SERVER, bobId!))!.sha256;
          assert.deepEqual((await post(f, `${V1}/media/sha256/${sha}/quarantine`)).json(), {
            num_quarantined: 1,
          });
          assert.deepEqual((await post(f, `${V1}/media/sha256/${sha}/unquarantine`)).json(), {
            num_unquarantined: 1,
          });
          roomMxcs = [{ origin: SERVER, mediaId: bobId! }];
          const room = await post(
            f,
            `${V1}/room/${encodeURIComponent("!room:test.local")}/media/quarantine`,
          );
          assert.deepEqual(room.json(), { num_quarantined: 1 });
          assert.deepEqual(rooms, ["!room:test.local"]);
          assert.equal((await f.metadata.getMedia(SERVER, bobId!))!.quarantined, true);
        },
        { handler: { admin: { roomMedia: async (roomId) => (rooms.push(roomId), roomMxcs) } } },
      );
    });

    it("without the roomMedia hook, room quarantine answers 501 M_UNRECOGNIZED naming the option", async () => {
      await withFixture(store, async (f) => {
        const res = await post(f, `${V1}/room/!room:test.local/media/quarantine`);
        assert.equal(res.status, 501);
        assert.equal(res.json().errcode, "M_UNRECOGNIZED");
        assert.match(res.json().error, /admin\.roomMedia/);
      });
    });

    it("lists a user's media with from, limit, next_token, total, order_by and dir", async () => {
      await withFixture(store, async (f) => {
        const ids = await seed(f.repo, alice, 5, (i) => "x".repeat(10 + ((i * 3) % 5)));
        await seed(f.repo, bob, 2);
        const path = `${V1}/users/${encodeURIComponent(alice)}/media`;
        const first = (await get(f, `${path}?limit=2`)).json();
        assert.equal(first.total, 5);
        assert.equal(first.next_token, 2);
        assert.equal(first.media.length, 2);
        assert.deepEqual(Object.keys(first.media[0]).sort(), [
          "created_ts",
          "last_access_ts",
          "media_id",
          "media_length",
          "media_type",
          "quarantined_by",
          "safe_from_quarantine",
          "upload_name",
        ]);
        const all: string[] = [];
        let from: number | undefined = 0;
        while (from !== undefined) {
          const page = (await get(f, `${path}?limit=2&from=${from}`)).json();
          all.push(...page.media.map((m: { media_id: string }) => m.media_id));
          from = page.next_token;
        }
        assert.deepEqual([...all].sort(), [...ids].sort());
        const bySize = (await get(f, `${path}?order_by=media_length&dir=b`)).json();
        const sizes = bySize.media.map((m: { media_length: number }) => m.media_length);
        assert.deepEqual(
          sizes,
          [...sizes].sort((a: number, b: number) => b - a),
        );
        const byName = (await get(f, `${path}?order_by=upload_name`)).json();
        assert.deepEqual(
          byName.media.map((m: { upload_name: string }) => m.upload_name),
          ["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt"],
          "order_by alone sorts forwards",
        );
        assert.equal(f.audit.at(-1)!.action, "admin_user_media");
      });
    });

    it("deletes a user's media a page at a time; bytes shared with another user stay", async () => {
      await withFixture(store, async (f) => {
        const ids = await seed(f.repo, alice, 4, (i) => `alice ${i}`);
        await seed(f.repo, bob, 1, () => "alice 0"); // the same bytes as alice's first
        const before = await keysOf(f.datastore);
        const path = `${V1}/users/${encodeURIComponent(alice)}/media`;
        const res = await del(f, `${path}?limit=3`);
        assert.equal(res.status, 200);
        assert.equal(res.json().total, 3);
        const rest = (await get(f, path)).json();
        assert.equal(rest.total, 1);
        assert.equal((await del(f, path)).json().total, 1);
        assert.equal((await get(f, path)).json().total, 0);
        for (const id of ids) assert.equal(await f.metadata.getMedia(SERVER, id), undefined);
        const after = await keysOf(f.datastore);
        assert.equal(before.length - after.length, 3, "alice's 3 unshared blobs are gone");
        assert.equal(after.length, 1, "the blob bob shares stays");
        assert.equal(f.audit.filter((a) => a.action === "admin_delete_user_media").length, 2);
      });
    });

    it("deletes local media by before_ts and size_gt; keep_profiles goes through profileMedia", async () => {
      let clock = 1_700_000_000_000;
      const avatars: string[] = [];
      await withFixture(
        store,
        async (f) => {
          const old = await seed(f.repo, alice, 3, (i) => `${"o".repeat(100)} ${i}`);
          const small = await seed(f.repo, alice, 1, () => "tiny");
          clock += 1_000_000;
          const recent = await seed(f.repo, alice, 1, () => `${"r".repeat(100)}`);
          avatars.push(old[0]!);
          const cutoff = 1_700_000_500_000;
          const seconds = await post(f, `${V1}/media/delete?before_ts=1700000500`);
          assert.equal(seconds.status, 400);
          assert.match(seconds.json().error, /before_ts/);
          const res = await post(f, `${V1}/media/delete?before_ts=${cutoff}&size_gt=50`);
          assert.equal(res.status, 200);
          assert.deepEqual([...res.json().deleted_media].sort(), [old[1], old[2]].sort());
          assert.equal(res.json().total, 2);
          for (const id of [old[0], small[0], recent[0]])
            assert.ok(await f.metadata.getMedia(SERVER, id!));
          const deprecated = await post(
            f,
            `${V1}/media/${SERVER}/delete?before_ts=${cutoff}&keep_profiles=false`,
          );
          assert.deepEqual([...deprecated.json().deleted_media].sort(), [old[0], small[0]].sort());
          const foreign = await post(f, `${V1}/media/elsewhere.example/delete?before_ts=${cutoff}`);
          assert.equal(foreign.status, 400);
        },
        {
          now: () => clock,
          handler: {
            admin: {
              profileMedia: async (candidates) =>
                candidates.filter((m) => avatars.includes(m.mediaId)),
            },
          },
        },
      );
    });

    it("without profileMedia, keep_profiles=true (the default) is refused rather than deleting avatars", async () => {
      await withFixture(store, async (f) => {
        const res = await post(f, `${V1}/media/delete?before_ts=1700000000000`);
        assert.equal(res.status, 400);
        assert.equal(res.json().errcode, "M_INVALID_PARAM");
        assert.match(res.json().error, /keep_profiles.*admin\.profileMedia/);
      });
    });

    it("users' media statistics: Synapse's shape, paging, orders and filters", async () => {
      let clock = 1_700_000_000_000;
      await withFixture(
        store,
        async (f) => {
          await seed(f.repo, alice, 3);
          clock += 10_000;
          await seed(f.repo, bob, 1, () => "b".repeat(1000));
          const path = `${V1}/statistics/users/media`;
          const all = (await get(f, path)).json();
          assert.equal(all.total, 2);
          assert.equal(all.next_token, undefined);
          assert.deepEqual(
            all.users.map((u: { user_id: string }) => u.user_id),
            [alice, bob],
          );
          assert.deepEqual(Object.keys(all.users[0]).sort(), [
            "displayname",
            "media_count",
            "media_length",
            "user_id",
          ]);
          assert.equal(all.users[0].media_count, 3);
          const page = (await get(f, `${path}?limit=1&order_by=media_length&dir=b`)).json();
          assert.deepEqual(
            page.users.map((u: { user_id: string }) => u.user_id),
            [bob],
          );
          assert.equal(page.next_token, 1);
          const since = (await get(f, `${path}?from_ts=${clock}`)).json();
          assert.deepEqual(
            since.users.map((u: { user_id: string }) => u.user_id),
            [bob],
          );
          const search = (await get(f, `${path}?search_term=ALI`)).json();
          assert.deepEqual(
            search.users.map((u: { user_id: string }) => u.user_id),
            [alice],
          );
        },
        { now: () => clock },
      );
    });
  });
}

describe("admin API paging limits", () => {
  it("a limit of 10^9 answers DEFAULT_ADMIN_PAGING.maxLimit items with a next_token", async () => {
    await withFixture(STORES.memory!, async (f) => {
      const record = (i: number) => ({
        origin: SERVER,
        mediaId: `bulk${i}`,
        kind: "local" as const,
        contentType: "text/plain",
        filename: null,
        size: 1,
        sha256: "a".repeat(64),
        datastoreId: "x",
        location: "x",
        uploader: alice,
        createdAt: 1_700_000_000_000 + i,
        lastAccessAt: 1_700_000_000_000 + i,
        quarantined: false,
        protected: false,
      });
      for (let i = 0; i < 1005; i++) await f.metadata.insertMedia(record(i));
      const res = (await get(f, `${V1}/users/${alice}/media?limit=1000000000`)).json();
      assert.equal(res.media.length, 1000);
      assert.equal(res.next_token, 1000);
      assert.equal(res.total, 1005);
    });
  });
});
