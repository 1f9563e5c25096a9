// The media server (matrix-media-kit/server) end to end over HTTP on embedded defaults:
// uploads, limits, admin quarantine, and previews through the SSRF guard.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import type { MediaServer } from "../../src/server/index.js";
import { tempDir } from "../harness/tmp.js";
import {
  ADMIN,
  ALICE,
  quiet,
  req,
  resolveConfig,
  startServer,
  startWebsite,
  uploadMedia,
} from "./helpers.js";

describe("standalone server on embedded defaults", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: MediaServer;
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
    server = await startServer(config, quiet);
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
    const path = await uploadMedia(server.url, ALICE, png, "image/png");
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
    const server = await startServer(
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

describe("standalone server start-up", () => {
  it("sweeps temporary files an earlier process with this PID left (a container restart) before serving", async () => {
    const dir = await tempDir();
    try {
      const tmp = path.join(dir.path, "media", ".tmp");
      await mkdir(tmp, { recursive: true });
      const host = os.hostname().replace(/[^A-Za-z0-9-]/g, "_");
      const leftover = path.join(tmp, `${host}.${process.pid}.0badcafe.aa.tmp`);
      await writeFile(leftover, "half a blob");
      const old = new Date(Date.now() - 3 * 24 * 3600_000);
      await utimes(leftover, old, old);
      const config = resolveConfig(
        {
          serverName: "media.test",
          listen: { port: 0 },
          datastores: [{ id: "local", type: "fs", kinds: ["local"], root: "media" }],
        },
        {},
        dir.path,
      );
      const server = await startServer(config, quiet);
      try {
        assert.deepEqual(await readdir(tmp), [], "swept at start, before the first upload");
      } finally {
        await server.close();
      }
    } finally {
      await dir.cleanup();
    }
  });
});

describe("standalone server thumbnail limits from the config", () => {
  it("thumbnails.maxSourceBytes: a larger source answers 413 M_TOO_LARGE; a smaller one is thumbnailed", async () => {
    const dir = await tempDir();
    const config = resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0 },
        datastores: [{ id: "local", type: "fs", kinds: ["local", "thumbnail"], root: "media" }],
        auth: { tokens: { [ALICE]: "@alice:media.test" } },
        thumbnails: { maxSourceBytes: "64KiB" },
      },
      {},
      dir.path,
    );
    assert.equal(config.thumbnails.maxSourceBytes, 64 * 1024);
    const server = await startServer(config, quiet);
    try {
      const noisy = randomBytes(400 * 400 * 3);
      const big = await sharp(noisy, { raw: { width: 400, height: 400, channels: 3 } })
        .png()
        .toBuffer();
      const small = await sharp({
        create: { width: 64, height: 64, channels: 3, background: "#336699" },
      })
        .png()
        .toBuffer();
      assert.ok(big.length > 64 * 1024 && small.length < 64 * 1024);
      const thumb = async (png: Buffer) => {
        const path = await uploadMedia(server.url, ALICE, png, "image/png");
        return req(
          server.url,
          `/_matrix/client/v1/media/thumbnail/${path}?width=32&height=32&method=crop`,
          { token: ALICE },
        );
      };
      const refused = await thumb(big);
      assert.equal(refused.status, 413, refused.body.toString());
      assert.equal(refused.json().errcode, "M_TOO_LARGE");
      const served = await thumb(small);
      assert.equal(served.status, 200, served.body.toString());
      assert.match(served.headers.get("content-type") ?? "", /^image\//);
    } finally {
      await server.close();
      await dir.cleanup();
    }
  });
});

describe("standalone server defaults against hostile clients", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: MediaServer;
  before(async () => {
    dir = await tempDir();
    const config = resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0, headersTimeoutMs: 20_000 },
        datastores: [{ id: "local", type: "fs", kinds: ["local", "thumbnail"], root: "media" }],
        auth: {
          tokens: { [ALICE]: "@alice:media.test", [ADMIN]: "@admin:media.test" },
          admins: ["@admin:media.test"],
          allowQueryToken: false,
        },
        limits: { rateLimit: { ratePerSecond: 0.01, burst: 3 } },
      },
      {},
      dir.path,
    );
    assert.equal(config.http.freezeLegacy, "startup", "frozen for new media by default");
    assert.deepEqual(config.http.server, { headersTimeoutMs: 20_000 });
    server = await startServer(config, quiet);
  });
  after(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  it("freezes media uploaded after start on the unauthenticated legacy routes, refuses query tokens, and rate-limits with Retry-After", async () => {
    const path = await uploadMedia(server.url, ADMIN, "hello", "text/plain"); // admins: no rate limit
    const legacy = await req(server.url, `/_matrix/media/v3/download/${path}`);
    assert.equal(legacy.status, 404);
    assert.equal(legacy.json().errcode, "M_NOT_FOUND");
    const query = await req(
      server.url,
      `/_matrix/client/v1/media/download/${path}?access_token=${ALICE}`,
    );
    assert.equal(query.status, 401);
    // Alice's bucket holds 3 requests; the fourth waits about 100 s for a token.
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof req>> | undefined;
    for (let i = 0; i < 4; i++) {
      const res = await req(server.url, `/_matrix/client/v1/media/download/${path}`, {
        token: ALICE,
      });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.equal(limited?.json().errcode, "M_LIMIT_EXCEEDED");
    assert.ok(Number(limited?.headers.get("retry-after")) > 0, "Retry-After in seconds");
    assert.ok(Number(limited?.json().retry_after_ms) > 0);
    for (let i = 0; i < 5; i++) {
      const res = await req(server.url, `/_matrix/client/v1/media/download/${path}`, {
        token: ADMIN,
      });
      assert.equal(res.status, 200, "admins are not rate limited");
    }
  });
});
