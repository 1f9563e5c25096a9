// The standalone server (examples/standalone) end to end over HTTP: embedded defaults,
// then PostgreSQL + a Redis ring with a leased MACHINE_ID; previews through the SSRF guard.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { resolveConfig, ConfigError } from "../../examples/standalone/config.js";
import {
  startStandaloneServer,
  type Logger,
  type StandaloneServer,
} from "../../examples/standalone/server.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";
import { startRedis, type RedisProcess } from "../harness/redis.js";
import { startS3 } from "../harness/s3.js";
import { tempDir } from "../harness/tmp.js";

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const ALICE = "alice-token";
const ADMIN = "admin-token";

async function req(
  base: string,
  path: string,
  init: {
    method?: string;
    token?: string;
    body?: Buffer | string;
    headers?: Record<string, string>;
  } = {},
) {
  const res = await fetch(base + path, {
    method: init.method ?? "GET",
    headers: {
      ...(init.token && { authorization: `Bearer ${init.token}` }),
      ...init.headers,
    },
    ...(init.body !== undefined && { body: init.body }),
    redirect: "manual",
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    body: buf,
    json: () => JSON.parse(buf.toString()) as Record<string, unknown>,
  };
}

/** A web page with OpenGraph tags and a relative og:image, counting connections. */
async function startWebsite(png: Buffer) {
  let connections = 0;
  const server = http.createServer((request, res) => {
    if (request.url === "/rock.png") {
      res.writeHead(200, { "content-type": "image/png", "content-length": png.length }).end(png);
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(
      `<html><head><title>fallback</title><meta property="og:title" content="The Rock">` +
        `<meta property="og:type" content="video.movie"><meta property="og:url" content="http://www.imdb.com/title/tt0117500/">` +
        `<meta property="og:image" content="/rock.png"></head><body>hi</body></html>`,
    );
  });
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe("standalone server on embedded defaults", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: StandaloneServer;
  let site: Awaited<ReturnType<typeof startWebsite>>;
  let png: Buffer;

  before(async () => {
    dir = await tempDir();
    png = await sharp({ create: { width: 279, height: 129, channels: 3, background: "#c04020" } })
      .png()
      .toBuffer();
    // The page's image differs from the uploaded (and later quarantined) one: quarantine
    // follows the bytes, so identical bytes fetched for a preview would stay quarantined.
    site = await startWebsite(
      await sharp({ create: { width: 279, height: 129, channels: 3, background: "#2040c0" } })
        .png()
        .toBuffer(),
    );
    const config = resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0 },
        datastores: [
          {
            id: "local",
            type: "fs",
            kinds: ["local", "remote", "thumbnail", "preview"],
            root: "media",
          },
        ],
        auth: {
          tokens: { [ALICE]: "@alice:media.test", [ADMIN]: "@admin:media.test" },
          admins: ["@admin:media.test"],
        },
        limits: { maxUploadBytes: "1MiB" },
        previews: { enabled: true, allowRanges: ["127.0.0.1/32"] },
      },
      {},
      dir.path,
    );
    server = await startStandaloneServer(config, quiet);
  });
  after(async () => {
    await server?.close();
    await site?.close();
    await dir?.cleanup();
  });

  it("uploads and downloads byte-identical media through the authenticated endpoints", async () => {
    const up = await req(server.url, "/_matrix/media/v3/upload?filename=hello.txt", {
      method: "POST",
      token: ALICE,
      body: "hello standalone",
      headers: { "content-type": "text/plain" },
    });
    assert.equal(up.status, 200);
    const mxc = up.json().content_uri as string;
    assert.match(mxc, /^mxc:\/\/media\.test\/[A-Za-z0-9_-]{32}$/);
    const path = mxc.slice("mxc://".length);
    const down = await req(server.url, `/_matrix/client/v1/media/download/${path}`, {
      token: ALICE,
    });
    assert.equal(down.status, 200);
    assert.equal(down.body.toString(), "hello standalone");
    assert.equal(down.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(down.headers.get("x-content-type-options"), "nosniff");
    assert.equal((await req(server.url, `/_matrix/client/v1/media/download/${path}`)).status, 401);
  });

  it("answers unknown routes with 404 M_UNRECOGNIZED and enforces the upload limit", async () => {
    const unknown = await req(server.url, "/_matrix/client/v1/media/nope", { token: ALICE });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().errcode, "M_UNRECOGNIZED");
    const outside = await req(server.url, "/somewhere/else");
    assert.equal(outside.json().errcode, "M_UNRECOGNIZED");
    const big = await req(server.url, "/_matrix/media/v3/upload", {
      method: "POST",
      token: ALICE,
      body: Buffer.alloc(1024 * 1024 + 1),
    });
    assert.equal(big.status, 413);
    assert.equal(big.json().errcode, "M_TOO_LARGE");
    const config = await req(server.url, "/_matrix/client/v1/media/config", { token: ALICE });
    assert.equal(config.json()["m.upload.size"], 1024 * 1024);
  });

  it("quarantine through the admin route: admins only, then 404 on download and thumbnail", async () => {
    const up = await req(server.url, "/_matrix/media/v3/upload", {
      method: "POST",
      token: ALICE,
      body: png,
      headers: { "content-type": "image/png" },
    });
    const path = (up.json().content_uri as string).slice("mxc://".length);
    assert.equal(
      (
        await req(
          server.url,
          `/_matrix/client/v1/media/thumbnail/${path}?width=32&height=32&method=crop`,
          { token: ALICE },
        )
      ).status,
      200,
    );
    const denied = await req(server.url, `/_synapse/admin/v1/media/quarantine/${path}`, {
      method: "POST",
      token: ALICE,
    });
    assert.equal(denied.status, 403);
    assert.equal(denied.json().errcode, "M_FORBIDDEN");
    const ok = await req(server.url, `/_synapse/admin/v1/media/quarantine/${path}`, {
      method: "POST",
      token: ADMIN,
    });
    assert.equal(ok.status, 200);
    assert.equal(
      (await req(server.url, `/_matrix/client/v1/media/download/${path}`, { token: ALICE })).status,
      404,
    );
    assert.equal(
      (
        await req(
          server.url,
          `/_matrix/client/v1/media/thumbnail/${path}?width=32&height=32&method=crop`,
          { token: ALICE },
        )
      ).status,
      404,
    );
  });

  it("previews a page on an allowed loopback address, storing og:image as mxc media", async () => {
    const res = await req(
      server.url,
      `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(site.url + "/movie")}`,
      { token: ALICE },
    );
    assert.equal(res.status, 200, res.body.toString());
    const og = res.json();
    assert.equal(og["og:title"], "The Rock");
    assert.equal(og["og:type"], "video.movie");
    assert.equal(og["og:image:width"], 279);
    assert.equal(og["og:image:height"], 129);
    const pagePng = await sharp({
      create: { width: 279, height: 129, channels: 3, background: "#2040c0" },
    })
      .png()
      .toBuffer();
    assert.equal(og["matrix:image:size"], pagePng.length);
    const image = og["og:image"] as string;
    assert.match(image, /^mxc:\/\/media\.test\//);
    const img = await req(server.url, `/_matrix/client/v1/media/download/${image.slice(6)}`, {
      token: ALICE,
    });
    assert.equal(img.status, 200, img.body.toString());
    assert.deepEqual(img.body, pagePng);
  });
});

describe("standalone server with the default deny list", () => {
  it("refuses a preview of 127.0.0.1 without connecting", async () => {
    const dir = await tempDir();
    const site = await startWebsite(Buffer.alloc(0));
    const server = await startStandaloneServer(
      resolveConfig(
        {
          listen: { port: 0 },
          auth: { tokens: { [ALICE]: "@alice:localhost" } },
          previews: { enabled: true },
        },
        {},
        dir.path,
      ),
      quiet,
    );
    try {
      const res = await req(
        server.url,
        `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(site.url + "/")}`,
        { token: ALICE },
      );
      assert.ok(res.status >= 400 && res.status < 600, `status ${res.status}`);
      assert.equal(typeof res.json().errcode, "string");
      assert.equal(site.connections, 0, "no TCP connection reached the page");
    } finally {
      await server.close();
      await site.close();
      await dir.cleanup();
    }
  });
});

describe("standalone server on PostgreSQL and a Redis ring", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: TestDatabase;
  let shards: RedisProcess[];
  const servers: StandaloneServer[] = [];

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
    const a = await startStandaloneServer(resolveConfig(raw(0), {}, dir.path), quiet);
    servers.push(a);
    const b = await startStandaloneServer(resolveConfig(raw(0), {}, dir.path), quiet);
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
    const first = await startStandaloneServer(
      resolveConfig(raw, { MACHINE_ID: "77" }, dir.path),
      quiet,
    );
    servers.push(first);
    assert.equal(first.machineId, 77);
    await assert.rejects(
      startStandaloneServer(resolveConfig(raw, { MACHINE_ID: "77" }, dir.path), quiet),
      /MACHINE_ID 77 is already leased/,
    );
  });
});

describe("standalone server on an S3 datastore", () => {
  it("stores uploads in the bucket and serves them, with thumbnails on local disk", async () => {
    const dir = await tempDir();
    const s3 = await startS3({ bucket: "media" });
    const server = await startStandaloneServer(
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

describe("standalone config validation", () => {
  it("names the key of every bad value", () => {
    const cases: Array<[unknown, Record<string, string>, RegExp]> = [
      [{ listen: { port: 70000 } }, {}, /listen\.port/],
      [{}, { MACHINE_ID: "abc" }, /MACHINE_ID/],
      [{}, { MACHINE_ID: "1024" }, /MACHINE_ID/],
      [{ datastores: [{ id: "a", type: "ftp", kinds: ["local"] }] }, {}, /datastores\[0\]\.type/],
      [
        { datastores: [{ id: "a", type: "fs", kinds: ["thumbnail"], root: "x" }] },
        {},
        /kind "local"/,
      ],
      [{ limits: { maxUploadBytes: "lots" } }, {}, /limits\.maxUploadBytes/],
      [
        { metadata: { postgres: "postgres://x", embedded: "./y" } },
        {},
        /either metadata\.postgres or metadata\.embedded/,
      ],
      [{ colour: "blue" }, {}, /Unknown config key colour/],
      [{ auth: { tokens: { abcd: "alice" } } }, {}, /auth\.tokens/],
    ];
    for (const [raw, env, message] of cases) {
      assert.throws(
        () => resolveConfig(raw, env, "/tmp"),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError || err instanceof RangeError, String(err));
          assert.match(err.message, message);
          return true;
        },
      );
    }
    const ok = resolveConfig({ limits: { maxUploadBytes: "50MiB" } }, { MACHINE_ID: "7" }, "/srv");
    assert.equal(ok.limits.maxUploadBytes, 50 * 1024 * 1024);
    assert.equal(ok.machineId, 7);
    assert.equal(ok.listen.port, 8008);
    assert.equal(ok.metadata.embedded, "/srv/data/metadata");
  });
});
