// Roles end to end: a process with roles [upload] and one with roles [download] over the same
// embedded metadata and fs datastore, each refusing the other's routes as unknown ones.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MediaServer, ServerLogger } from "../../../src/server/index.js";
import { tempDir } from "../../harness/tmp.js";
import { ADMIN, ALICE, quiet, req, resolveConfig, startServer } from "../../server/helpers.js";

function recordingLogger(): ServerLogger & { warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = [];
  return {
    ...quiet,
    warnings,
    warn: (message, details) => void warnings.push({ message, ...details }),
  };
}

describe("standalone servers with roles", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let uploads: MediaServer;
  let downloads: MediaServer;
  const downloadLog = recordingLogger();

  before(async () => {
    dir = await tempDir("mmk-roles-");
    const config = (roles: string[]) =>
      resolveConfig(
        {
          serverName: "media.test",
          listen: { port: 0 },
          roles,
          datastores: [
            { id: "local", type: "fs", kinds: ["local", "thumbnail", "preview"], root: "media" },
          ],
          metadata: { embedded: "metadata" },
          auth: {
            tokens: { [ALICE]: "@alice:media.test", [ADMIN]: "@admin:media.test" },
            admins: ["@admin:media.test"],
          },
        },
        { MACHINE_ID: String(roles.length) },
        dir.path,
      );
    uploads = await startServer(config(["upload"]));
    downloads = await startServer(config(["download", "background"]), downloadLog);
  });
  after(async () => {
    await downloads?.close();
    await uploads?.close();
    await dir?.cleanup();
  });

  it("exposes the roles it serves", () => {
    assert.deepEqual(uploads.roles, ["upload"]);
    assert.deepEqual(downloads.roles, ["download", "background"]);
  });

  it("serves on the download process what the upload process stored", async () => {
    const up = await req(uploads.url, "/_matrix/media/v3/upload", {
      method: "POST",
      token: ALICE,
      body: "split by role",
      headers: { "content-type": "text/plain" },
    });
    assert.equal(up.status, 200, up.body.toString());
    const mxc = String(up.json().content_uri).slice("mxc://".length);
    const down = await req(downloads.url, `/_matrix/client/v1/media/download/${mxc}`, {
      token: ALICE,
    });
    assert.equal(down.status, 200);
    assert.equal(down.body.toString(), "split by role");
    const refused = await req(uploads.url, `/_matrix/client/v1/media/download/${mxc}`, {
      token: ALICE,
    });
    assert.equal(refused.status, 404);
    assert.equal(refused.json().errcode, "M_UNRECOGNIZED");
  });

  it("answers another role's route exactly as an unknown one, and logs it once", async () => {
    const unknown = await req(downloads.url, "/_matrix/media/v3/no_such_route", { token: ALICE });
    const upload = () =>
      req(downloads.url, "/_matrix/media/v3/upload", {
        method: "POST",
        token: ALICE,
        body: "misrouted",
        headers: { "content-type": "text/plain" },
      });
    const first = await upload();
    const second = await upload();
    assert.equal(first.status, 404);
    assert.deepEqual(first.json(), unknown.json());
    assert.equal(first.json().errcode, "M_UNRECOGNIZED");
    assert.equal(second.status, 404);
    const logged = downloadLog.warnings.filter((w) => w.route === "upload");
    assert.equal(logged.length, 1);
    // Without a token it is a 401, as for an unknown path: nothing tells which routes exist.
    const anonymous = await req(downloads.url, "/_matrix/media/v3/upload", { method: "POST" });
    assert.equal(anonymous.status, 401);
  });

  it("serves config on both, thumbnails and admin on neither", async () => {
    for (const server of [uploads, downloads]) {
      const config = await req(server.url, "/_matrix/client/v1/media/config", { token: ALICE });
      assert.equal(config.status, 200);
      assert.equal(typeof config.json()["m.upload.size"], "number");
      const thumb = await req(
        server.url,
        "/_matrix/client/v1/media/thumbnail/media.test/abc?width=32&height=32",
        { token: ALICE },
      );
      assert.equal(thumb.json().errcode, "M_UNRECOGNIZED");
      const admin = await req(server.url, "/_synapse/admin/v1/purge_media_cache?before_ts=1", {
        method: "POST",
        token: ADMIN,
      });
      assert.equal(admin.status, 404);
      assert.equal(admin.json().errcode, "M_UNRECOGNIZED");
    }
  });

  it("answers on the download process an asynchronous upload completed on the upload process", async () => {
    const created = await req(uploads.url, "/_matrix/media/v1/create", {
      method: "POST",
      token: ALICE,
    });
    assert.equal(created.status, 200);
    const mxc = String(created.json().content_uri).slice("mxc://".length);
    const waiting = req(
      downloads.url,
      `/_matrix/client/v1/media/download/${mxc}?timeout_ms=20000`,
      {
        token: ALICE,
      },
    );
    const put = await req(uploads.url, `/_matrix/media/v3/upload/${mxc}`, {
      method: "PUT",
      token: ALICE,
      body: "later",
      headers: { "content-type": "text/plain" },
    });
    assert.equal(put.status, 200, put.body.toString());
    const down = await waiting;
    assert.equal(down.status, 200);
    assert.equal(down.body.toString(), "later");
  });
});
