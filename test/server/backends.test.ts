// The media server on shared backends: PostgreSQL + a Redis ring with leased machine IDs,
// and an S3 datastore for originals beside a local one for thumbnails.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import type { MediaServer } from "../../src/server/index.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";
import { startRedis, type RedisProcess } from "../harness/redis.js";
import { startS3 } from "../harness/s3.js";
import { tempDir } from "../harness/tmp.js";
import { ALICE, quiet, req, resolveConfig, startServer } from "./helpers.js";

describe("standalone server on PostgreSQL and a Redis ring", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: TestDatabase;
  let shards: RedisProcess[];
  const servers: MediaServer[] = [];

  before(async () => {
    dir = await tempDir();
    db = await createTestDatabase();
    shards = await Promise.all([startRedis(), startRedis()]);
  });
  after(async () => {
    for (const s of servers) await s.close();
    await Promise.all(shards.map((s) => s.close()));
    await db.drop();
    await dir.cleanup();
  });

  it("two processes lease distinct machine IDs and share media through the database", async () => {
    const raw = (port: number) => ({
      serverName: "media.test",
      listen: { port },
      datastores: [
        {
          id: "shared",
          type: "fs",
          kinds: ["local", "remote", "thumbnail", "preview"],
          root: "shared",
        },
      ],
      cache: { memory: { maxBytes: "16MiB" }, redis: { shards: shards.map((s) => s.url) } },
      metadata: { postgres: db.url },
      auth: { tokens: { [ALICE]: "@alice:media.test" } },
    });
    const a = await startServer(resolveConfig(raw(0), {}, dir.path), quiet);
    servers.push(a);
    const b = await startServer(resolveConfig(raw(0), {}, dir.path), quiet);
    servers.push(b);
    assert.notEqual(a.machineId, b.machineId, "leases never hand out the same machine ID twice");
    const up = await req(a.url, "/_matrix/media/v3/upload", {
      method: "POST",
      token: ALICE,
      body: "shared bytes",
    });
    const path = (up.json().content_uri as string).slice(6);
    const down = await req(b.url, `/_matrix/client/v1/media/download/${path}`, { token: ALICE });
    assert.equal(down.status, 200);
    assert.equal(down.body.toString(), "shared bytes");
  });

  it("a MACHINE_ID already leased by a live process is refused at start", async () => {
    const raw = {
      listen: { port: 0 },
      cache: { redis: { shards: [shards[0]!.url] } },
      metadata: { postgres: db.url },
      auth: { tokens: { [ALICE]: "@alice:localhost" } },
      datastores: [{ id: "x", type: "fs", kinds: ["local"], root: "x" }],
    };
    const first = await startServer(resolveConfig(raw, { MACHINE_ID: "77" }, dir.path), quiet);
    servers.push(first);
    assert.equal(first.machineId, 77);
    await assert.rejects(
      startServer(resolveConfig(raw, { MACHINE_ID: "77" }, dir.path), quiet),
      /MACHINE_ID 77 is already leased/,
    );
  });
});

describe("standalone server on an S3 datastore", () => {
  it("stores uploads in the bucket and serves them, with thumbnails on local disk", async () => {
    const dir = await tempDir();
    const s3 = await startS3({ bucket: "media" });
    const server = await startServer(
      resolveConfig(
        {
          serverName: "media.test",
          listen: { port: 0 },
          datastores: [
            {
              id: "s3",
              type: "s3",
              kinds: ["local", "remote"],
              bucket: s3.bucket,
              endpoint: s3.endpoint,
              region: s3.region,
              forcePathStyle: true,
              credentials: s3.credentials,
            },
            { id: "disk", type: "fs", kinds: ["thumbnail", "preview"], root: "thumbs" },
          ],
          auth: { tokens: { [ALICE]: "@alice:media.test" } },
        },
        {},
        dir.path,
      ),
      quiet,
    );
    try {
      const png = await sharp({
        create: { width: 400, height: 300, channels: 3, background: "#10a060" },
      })
        .png()
        .toBuffer();
      const up = await req(server.url, "/_matrix/media/v3/upload", {
        method: "POST",
        token: ALICE,
        body: png,
        headers: { "content-type": "image/png" },
      });
      assert.equal(up.status, 200, up.body.toString());
      const path = (up.json().content_uri as string).slice(6);
      const down = await req(server.url, `/_matrix/client/v1/media/download/${path}`, {
        token: ALICE,
      });
      assert.equal(down.status, 200);
      assert.deepEqual(down.body, png);
      const record = await server.repository.lookup("media.test", path.split("/")[1]!);
      assert.equal(record.datastoreId, "s3", "the original lives in the bucket");
      const thumb = await req(
        server.url,
        `/_matrix/client/v1/media/thumbnail/${path}?width=32&height=32&method=crop`,
        {
          token: ALICE,
        },
      );
      assert.equal(thumb.status, 200);
      assert.equal((await sharp(thumb.body).metadata()).width, 32);
      await server.repository.whenIdle();
      const thumbFiles = await readdir(join(dir.path, "thumbs"), { recursive: true });
      assert.ok(thumbFiles.length > 0, "thumbnails are written to the local fs datastore");
    } finally {
      await server.close();
      await s3.close();
      await dir.cleanup();
    }
  });
});
