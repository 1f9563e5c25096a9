// Refusals of the admin API: a non-admin on every admin route, and malformed IDs, timestamps,
// orders and limits, each answered 400 with the parameter named before any storage call.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { memoryMetadataStore } from "../../src/metadata/index.js";
import { adminRoutes } from "../../src/http/routes/admin.js";
import { adminUserRoutes } from "../../src/http/routes/admin-users.js";
import { request } from "../http/fixture.js";
import { ADMIN, ALICE, createAdminFixture, SERVER, type AdminFixture } from "./fixture.js";

const V1 = "/_synapse/admin/v1";
const SHA = "a".repeat(64);

/** One request per admin route (by name), as a client would send it. */
const EVERY_ROUTE: ReadonlyArray<{ route: string; method: string; path: string }> = [
  { route: "admin_quarantine", method: "POST", path: `media/quarantine/${SERVER}/abc` },
  { route: "admin_unquarantine", method: "POST", path: `media/unquarantine/${SERVER}/abc` },
  { route: "admin_quarantine_sha256", method: "POST", path: `media/sha256/${SHA}/quarantine` },
  { route: "admin_unquarantine_sha256", method: "POST", path: `media/sha256/${SHA}/unquarantine` },
  {
    route: "admin_quarantine_user",
    method: "POST",
    path: "user/@alice:test.local/media/quarantine",
  },
  { route: "admin_quarantine_room", method: "POST", path: "room/!r:test.local/media/quarantine" },
  { route: "admin_protect", method: "POST", path: "media/protect/abc" },
  { route: "admin_unprotect", method: "POST", path: "media/unprotect/abc" },
  { route: "admin_delete_local", method: "POST", path: "media/delete?before_ts=1700000000000" },
  {
    route: "admin_delete_local",
    method: "POST",
    path: `media/${SERVER}/delete?before_ts=1700000000000`,
  },
  { route: "admin_media_info", method: "GET", path: `media/${SERVER}/abc` },
  { route: "admin_delete", method: "DELETE", path: `media/${SERVER}/abc` },
  {
    route: "admin_purge_remote",
    method: "POST",
    path: "purge_media_cache?before_ts=1700000000000",
  },
  { route: "admin_user_media", method: "GET", path: "users/@alice:test.local/media" },
  { route: "admin_delete_user_media", method: "DELETE", path: "users/@alice:test.local/media" },
  { route: "admin_export_user_media", method: "GET", path: "users/@alice:test.local/media/export" },
  { route: "admin_user_media_statistics", method: "GET", path: "statistics/users/media" },
];

/** A request that must be refused 400 with `param` named in the message. */
const BAD: ReadonlyArray<{ method: string; path: string; param: RegExp; errcode?: string }> = [
  { method: "GET", path: "users/alice/media", param: /user_id/ },
  { method: "GET", path: "users/@alice/media", param: /user_id/ },
  { method: "GET", path: "users/@:test.local/media", param: /user_id/ },
  { method: "GET", path: "users/@al:ice:bad..server/media", param: /user_id/ },
  { method: "GET", path: `users/@${"a".repeat(300)}:test.local/media`, param: /user_id/ },
  { method: "DELETE", path: "users/%40alice%00%3Atest.local/media", param: /user_id/ },
  {
    method: "GET",
    path: "users/@alice:test.local/media/export".replace("@", ""),
    param: /user_id/,
  },
  { method: "POST", path: "user/bob/media/quarantine", param: /user_id/ },
  { method: "GET", path: "users/@alice:elsewhere.example/media", param: /local users.*user_id/ },
  { method: "DELETE", path: "users/@alice:elsewhere.example/media", param: /local users/ },
  { method: "GET", path: "users/@alice:elsewhere.example/media/export", param: /local users/ },
  { method: "POST", path: "room/room:test.local/media/quarantine", param: /room_id/ },
  { method: "POST", path: "room/!:test.local/media/quarantine", param: /room_id/ },
  { method: "POST", path: "room/!r:/media/quarantine", param: /room_id/ },
  { method: "POST", path: "media/sha256/ABC/quarantine", param: /sha256/ },
  { method: "GET", path: "users/@alice:test.local/media?limit=0", param: /limit/ },
  { method: "GET", path: "users/@alice:test.local/media?limit=-1", param: /limit/ },
  { method: "GET", path: "users/@alice:test.local/media?limit=ten", param: /limit/ },
  { method: "GET", path: "users/@alice:test.local/media?from=-5", param: /from/ },
  { method: "GET", path: "users/@alice:test.local/media?order_by=uploader", param: /order_by/ },
  {
    method: "GET",
    path: "users/@alice:test.local/media?order_by=created_ts%3B%20DROP",
    param: /order_by/,
  },
  { method: "GET", path: "users/@alice:test.local/media?dir=up", param: /dir/ },
  { method: "DELETE", path: "users/@alice:test.local/media?order_by=nope", param: /order_by/ },
  { method: "GET", path: "statistics/users/media?order_by=size", param: /order_by/ },
  { method: "GET", path: "statistics/users/media?from_ts=yesterday", param: /from_ts/ },
  { method: "GET", path: "statistics/users/media?from_ts=10&until_ts=5", param: /until_ts/ },
  { method: "GET", path: "statistics/users/media?search_term=", param: /search_term/ },
  { method: "GET", path: "statistics/users/media?limit=0", param: /limit/ },
  { method: "GET", path: "statistics/users/media?dir=sideways", param: /dir/ },
  { method: "POST", path: "media/delete", param: /before_ts/, errcode: "M_MISSING_PARAM" },
  { method: "POST", path: "media/delete?before_ts=1.5e12", param: /before_ts/ },
  { method: "POST", path: "media/delete?before_ts=1700000000", param: /before_ts/ },
  { method: "POST", path: "media/delete?before_ts=1700000000000&size_gt=-1", param: /size_gt/ },
  {
    method: "POST",
    path: "media/delete?before_ts=1700000000000&keep_profiles=yes",
    param: /keep_profiles/,
  },
  { method: "POST", path: "purge_media_cache?before_ts=soon", param: /before_ts/ },
];

let f: AdminFixture;
before(async () => {
  f = await createAdminFixture(memoryMetadataStore());
});
after(() => f.close());

describe("admin routes refuse non-admins", () => {
  it("the table names every admin route", () => {
    const names = new Set([...adminRoutes, ...adminUserRoutes].map((r) => r.name));
    assert.deepEqual(new Set(EVERY_ROUTE.map((r) => r.route)), names);
  });

  for (const { route, method, path } of EVERY_ROUTE) {
    it(`${route}: ${method} ${path} → 403 M_FORBIDDEN for a non-admin, 401 without a token`, async () => {
      const res = await request(f.baseUrl, method, `${V1}/${path}`, { token: ALICE });
      assert.equal(res.status, 403);
      assert.equal(res.json().errcode, "M_FORBIDDEN");
      const anonymous = await request(f.baseUrl, method, `${V1}/${path}`);
      assert.equal(anonymous.status, 401);
    });
  }

  it("nothing was audited for the refused requests", () => {
    assert.deepEqual(f.audit, []);
  });
});

describe("admin routes refuse malformed parameters with the parameter named", () => {
  for (const { method, path, param, errcode } of BAD) {
    it(`${method} ${path.slice(0, 80)} → 400 naming ${param.source}`, async () => {
      const res = await request(f.baseUrl, method, `${V1}/${path}`, { token: ADMIN });
      assert.equal(res.status, 400, res.body.toString());
      assert.equal(res.json().errcode, errcode ?? "M_INVALID_PARAM");
      assert.match(res.json().error, param);
    });
  }

  it("a method no route of a path takes is 405 with every method of that path in Allow", async () => {
    const res = await request(f.baseUrl, "PUT", `${V1}/media/${SERVER}/abc`, { token: ADMIN });
    assert.equal(res.status, 405);
    assert.deepEqual(String(res.headers.allow).split(", ").sort(), ["DELETE", "GET", "HEAD"]);
  });

  it("other Synapse admin paths are not the handler's: they fall through", async () => {
    for (const path of ["users/@alice:test.local/devices", "rooms", "users/@alice:test.local"]) {
      const res = await request(f.baseUrl, "GET", `${V1}/${path}`, { token: ADMIN });
      assert.equal(res.status, 404);
      assert.equal(res.body.toString(), "not ours", path);
    }
  });
});
