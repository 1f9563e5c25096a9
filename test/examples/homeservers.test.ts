// The homeserver examples work as written: upload through the mounted kit, read back.
import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { createApp as createExpressApp } from "../../examples/express-homeserver/server.js";
import { createApp as createKoaApp } from "../../examples/koa-homeserver/server.js";
import { tempDir } from "../harness/tmp.js";

async function roundTrip(server: Server) {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const auth = { authorization: "Bearer secret-token" };
    const up = await fetch(`${base}/_matrix/media/v3/upload?filename=n.txt`, {
      method: "POST",
      headers: auth,
      body: "from a homeserver",
    });
    assert.equal(up.status, 200);
    const { content_uri } = (await up.json()) as { content_uri: string };
    const down = await fetch(`${base}/_matrix/client/v1/media/download/${content_uri.slice(6)}`, {
      headers: auth,
    });
    assert.equal(await down.text(), "from a homeserver");
    const versions = await fetch(`${base}/_matrix/client/versions`);
    assert.equal(versions.status, 200, "non-media routes fall through to the homeserver");
    const noToken = await fetch(`${base}/_matrix/client/v1/media/config`);
    assert.equal(noToken.status, 401);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe("homeserver examples", () => {
  it("Express mounts the media API behind its own auth", async () => {
    const dir = await tempDir();
    const { app, repo } = createExpressApp(dir.path);
    const { createServer } = await import("node:http");
    await roundTrip(createServer(app));
    await repo.close();
    await dir.cleanup();
  });
  it("Koa mounts the media API behind its own auth", async () => {
    const dir = await tempDir();
    const { app, repo } = createKoaApp(dir.path);
    const { createServer } = await import("node:http");
    const callback = app.callback();
    await roundTrip(createServer((req, res) => void callback(req, res)));
    await repo.close();
    await dir.cleanup();
  });
});
