// A reload (SIGHUP) that changes `roles` (e.g. dropping `background`) is not applied live:
// `reload()` names `roles` as needing a restart and the server keeps the roles it started with.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startMediaServer, type MediaServer } from "../../../src/server/index.js";
import { tempDir } from "../../harness/tmp.js";
import { ALICE, quiet, req, resolveConfig } from "../../server/helpers.js";

describe("reload of roles", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: MediaServer;
  let roles = ["upload", "download", "background"];
  const config = () =>
    resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0 },
        roles,
        datastores: [{ id: "local", type: "fs", kinds: ["local"], root: "media" }],
        metadata: { embedded: "metadata" },
        auth: { tokens: { [ALICE]: "@alice:media.test" } },
        thumbnails: { enabled: false },
      },
      { MACHINE_ID: "5" },
      dir.path,
    );

  before(async () => {
    dir = await tempDir("mmk-upgrade-roles-");
    server = await startMediaServer(config(), { logger: quiet, loadConfig: config });
  });
  after(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  it("names roles as restart-needed and keeps the roles of start", async () => {
    roles = ["upload", "download"];
    const result = await server.reload();
    assert.deepEqual(result.restartNeeded, ["roles"]);
    assert.deepEqual(result.applied, []);
    assert.deepEqual(server.roles, ["upload", "download", "background"]);
    const up = await req(server.url, "/_matrix/media/v3/upload", {
      method: "POST",
      token: ALICE,
      body: "still uploading",
    });
    assert.equal(up.status, 200);
  });
});
