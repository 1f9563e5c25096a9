// A reload (SIGHUP) that changes `roles` is applied live: the routes of a dropped role answer
// 404 M_UNRECOGNIZED at once, and a process losing `background` stops its jobs and releases
// the leader lease; gaining it back, it competes (and here, alone, leads) again.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, describe, it } from "node:test";
import { startMediaServer, type MediaServer } from "../../../src/server/index.js";
import { eventually } from "../../../src/testing/eventually.js";
import { tempDir } from "../../harness/tmp.js";
import { ALICE, quiet, req, resolveConfig } from "../../server/helpers.js";

interface Change {
  leader: boolean;
  reason?: string;
}

describe("reload of roles", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: MediaServer;
  let roles = ["upload", "download", "background"];
  const changes: Change[] = [];
  const onLeader = (message: unknown) => changes.push(message as Change);
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
  const upload = (body: string) =>
    req(server.url, "/_matrix/media/v3/upload", { method: "POST", token: ALICE, body });

  before(async () => {
    subscribe("matrix-media-kit:scale:leader", onLeader);
    dir = await tempDir("mmk-upgrade-roles-");
    server = await startMediaServer(config(), { logger: quiet, loadConfig: config });
  });
  after(async () => {
    unsubscribe("matrix-media-kit:scale:leader", onLeader);
    await server?.close();
    await dir?.cleanup();
  });

  it("stops leading when background is dropped and serves a dropped role's routes no more", async () => {
    await eventually("leadership", 10_000, async () => changes.find((c) => c.leader));
    assert.equal((await upload("before")).status, 200);

    roles = ["download"];
    const result = await server.reload();
    assert.deepEqual(result.applied, ["roles"]);
    assert.deepEqual(result.restartNeeded, []);
    assert.deepEqual(server.roles, ["download"]);
    assert.deepEqual(changes.at(-1), {
      name: "mmk:leader",
      leader: false,
      generation: undefined,
      reason: "stopped",
    });
    const refused = await upload("after");
    assert.equal(refused.status, 404);
    assert.equal(refused.json().errcode, "M_UNRECOGNIZED");
  });

  it("competes again when background comes back", async () => {
    const seen = changes.length;
    roles = ["upload", "download", "background"];
    const result = await server.reload();
    assert.deepEqual(result.applied, ["roles"]);
    assert.equal((await upload("again")).status, 200);
    await eventually("leadership again", 10_000, async () =>
      changes.slice(seen).find((c) => c.leader),
    );
  });
});
