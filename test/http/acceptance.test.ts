// The issue's acceptance cases over real HTTP, against the bare handler and both adapters.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import contentDispositionLib from "content-disposition";
import sharp from "sharp";
import { createClient } from "matrix-js-sdk";
import { blobCacheKey } from "../../src/repository/index.js";
import {
  chunkedUpload,
  createFixture,
  request,
  SERVER_NAME,
  TOKENS,
  upload,
  type Fixture,
  type Flavor,
} from "./fixture.js";

const LIMIT = 2 * 1024 * 1024;
const CSP_PREFIX = "sandbox;";

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({
    create: { width, height, channels: 3, background: { r: 200, g: 80, b: 20 } },
  })
    .png()
    .toBuffer();
}

function assertSecurityHeaders(headers: http.IncomingHttpHeaders): void {
  assert.ok(
    String(headers["content-security-policy"]).startsWith(CSP_PREFIX),
    "CSP sandbox header",
  );
  assert.equal(headers["x-content-type-options"], "nosniff");
  assert.equal(headers["cross-origin-resource-policy"], "cross-origin");
  assert.equal(headers["access-control-allow-origin"], "*");
}

async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const flavor of ["node", "express", "koa"] as Flavor[]) {
  describe(`media API acceptance (${flavor})`, () => {
    let f: Fixture;
    let bigPng: Buffer;
    let tinyPng: Buffer;
    before(async () => {
      f = await createFixture({ flavor, limits: { maxUploadBytes: LIMIT } });
      bigPng = await png(1000, 673);
      tinyPng = await png(1, 1);
    });
    after(() => f.close());

    it("matrix-js-sdk uploads a file and reads it back byte-identical through the authenticated endpoints", async () => {
      const client = createClient({
        baseUrl: f.baseUrl,
        accessToken: TOKENS.alice,
        userId: "@alice:test.local",
      });
      const bytes = Buffer.alloc(300_000);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
      const { content_uri } = await client.uploadContent(bytes, {
        name: "data.bin",
        type: "application/octet-stream",
      });
      assert.match(
        content_uri,
        new RegExp(`^mxc://${SERVER_NAME.replace(".", "\\.")}/[A-Za-z0-9_-]+$`),
      );
      const url = client.mxcUrlToHttp(
        content_uri,
        undefined,
        undefined,
        undefined,
        false,
        true,
        true,
      );
      assert.ok(url?.includes("/_matrix/client/v1/media/download/"), `authenticated URL: ${url}`);
      if (!url) return;
      const unauth = await fetch(url);
      assert.equal(unauth.status, 401);
      const res = await fetch(url, { headers: { Authorization: `Bearer ${TOKENS.alice}` } });
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
      client.stopClient();
    });

    it("keeps the uploaded Content-Type exactly (img/png), adds a charset to text/*, defaults to octet-stream", async () => {
      const { mediaId } = await upload(f.baseUrl, "not really a png", "img/png");
      const res = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`,
        {
          token: TOKENS.alice,
        },
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-type"], "img/png");
      assert.equal(res.body.toString(), "not really a png");
      assertSecurityHeaders(res.headers);

      const text = await upload(f.baseUrl, "hello", "text/plain");
      const t = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/${SERVER_NAME}/${text.mediaId}`,
        {
          token: TOKENS.alice,
        },
      );
      assert.equal(t.headers["content-type"], "text/plain; charset=utf-8");

      const none = await upload(f.baseUrl, "\u0001\u0002 opaque", undefined);
      const n = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/${SERVER_NAME}/${none.mediaId}`,
        {
          token: TOKENS.alice,
        },
      );
      assert.equal(n.headers["content-type"], "application/octet-stream");
    });

    it("async upload: a download of the pending ID is 504 M_NOT_YET_UPLOADED, PUT is 200, a second empty PUT is 409", async () => {
      const created = await request(f.baseUrl, "POST", "/_matrix/media/v1/create", {
        token: TOKENS.alice,
      });
      assert.equal(created.status, 200);
      const { content_uri, unused_expires_at } = created.json();
      assert.ok(unused_expires_at > Date.now() + 23 * 3600_000, "expires in about 24 h");
      const mediaId = String(content_uri).split("/").pop()!;
      const pending = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}?timeout_ms=50`,
        { token: TOKENS.alice },
      );
      assert.equal(pending.status, 504);
      assert.equal(pending.json().errcode, "M_NOT_YET_UPLOADED");

      const byBob = await request(
        f.baseUrl,
        "PUT",
        `/_matrix/media/v3/upload/${SERVER_NAME}/${mediaId}`,
        {
          token: TOKENS.bob,
          body: "bob's",
          headers: { "Content-Type": "text/plain" },
        },
      );
      assert.equal(byBob.status, 403, "only the creator may upload");

      // A waiter started before the PUT is woken by it.
      const waiting = request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}?timeout_ms=20000`,
        { token: TOKENS.alice },
      );
      const put = await request(
        f.baseUrl,
        "PUT",
        `/_matrix/media/v3/upload/${SERVER_NAME}/${mediaId}`,
        {
          token: TOKENS.alice,
          body: "async bytes",
          headers: { "Content-Type": "text/plain" },
        },
      );
      assert.equal(put.status, 200);
      const woken = await waiting;
      assert.equal(woken.status, 200);
      assert.equal(woken.body.toString(), "async bytes");

      const again = await request(
        f.baseUrl,
        "PUT",
        `/_matrix/media/v3/upload/${SERVER_NAME}/${mediaId}`,
        {
          token: TOKENS.alice,
          body: "",
        },
      );
      assert.equal(again.status, 409);
      assert.equal(again.json().errcode, "M_CANNOT_OVERWRITE_MEDIA");
    });

    it("round-trips file names through Content-Disposition as a standard parser reads it", async () => {
      for (const name of [
        "ascii",
        "name with spaces",
        "name;with;semicolons",
        "☕",
        "🐔",
        'q"uo\\te',
      ]) {
        const { mediaId } = await upload(f.baseUrl, "x", "text/plain", name);
        const res = await request(
          f.baseUrl,
          "GET",
          `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`,
          {
            token: TOKENS.alice,
          },
        );
        const parsed = contentDispositionLib.parse(String(res.headers["content-disposition"]));
        assert.equal(parsed.type, "inline");
        assert.equal(parsed.parameters.filename, name, `filename ${name}`);
        const variant = await request(
          f.baseUrl,
          "GET",
          `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}/${encodeURIComponent(`other ${name}`)}`,
          { token: TOKENS.alice },
        );
        assert.equal(variant.status, 200);
        assert.equal(
          contentDispositionLib.parse(String(variant.headers["content-disposition"])).parameters
            .filename,
          `other ${name}`,
          "the /{fileName} variant uses that name",
        );
      }
      const evil = await upload(f.baseUrl, "x", "text/plain", "a\r\nSet-Cookie: x=1");
      const res = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/${SERVER_NAME}/${evil.mediaId}`,
        {
          token: TOKENS.alice,
        },
      );
      assert.equal(res.headers["set-cookie"], undefined, "no header injection");
    });

    it("serves image/png and text/plain; charset=utf-8 inline, image/svg+xml and text/html as attachments", async () => {
      const cases: Array<[string, string]> = [
        ["image/png", "inline"],
        ["text/plain; charset=utf-8", "inline"],
        ["image/svg+xml", "attachment"],
        ["text/html", "attachment"],
      ];
      for (const [type, disposition] of cases) {
        const { mediaId } = await upload(f.baseUrl, "<svg/>", type, "f");
        const res = await request(
          f.baseUrl,
          "GET",
          `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`,
          {
            token: TOKENS.alice,
          },
        );
        assert.equal(
          contentDispositionLib.parse(String(res.headers["content-disposition"])).type,
          disposition,
          type,
        );
        assertSecurityHeaders(res.headers);
      }
    });

    it("thumbnails: 32×32 scale of a 1000×673 PNG is a PNG or JPEG at least as large as asked; a 1×1 PNG is never upscaled", async () => {
      const big = await upload(f.baseUrl, bigPng, "image/png");
      await f.repo.whenIdle(); // pre-generated sizes
      const res = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/thumbnail/${SERVER_NAME}/${big.mediaId}?width=32&height=32&method=scale`,
        { token: TOKENS.alice },
      );
      assert.equal(res.status, 200);
      assert.ok(["image/png", "image/jpeg"].includes(String(res.headers["content-type"])));
      assert.equal(
        contentDispositionLib.parse(String(res.headers["content-disposition"])).type,
        "inline",
      );
      assertSecurityHeaders(res.headers);
      const meta = await sharp(res.body).metadata();
      assert.ok(meta.width >= 32 && meta.height >= 32, `${meta.width}x${meta.height} >= 32x32`);
      assert.ok(meta.width <= 1000 && meta.height <= 673);
      assert.deepEqual(
        [meta.width, meta.height],
        [320, 215],
        "the pre-generated 320×240 scale size",
      );
      const stored = await f.metadata.getThumbnails(SERVER_NAME, big.mediaId);
      assert.equal(
        stored.length,
        5,
        "served from the pre-generated sizes, nothing generated on demand",
      );

      for (const [w, h, method] of [
        [320, 240, "scale"],
        [640, 480, "scale"],
        [96, 96, "crop"],
      ] as const) {
        const r = await request(
          f.baseUrl,
          "GET",
          `/_matrix/client/v1/media/thumbnail/${SERVER_NAME}/${big.mediaId}?width=${w}&height=${h}&method=${method}`,
          { token: TOKENS.alice },
        );
        assert.equal(r.status, 200);
        const m = await sharp(r.body).metadata();
        if (method === "scale") {
          assert.ok(
            m.width >= Math.min(w, Math.round((h * 1000) / 673)) - 1,
            `${method} ${w}x${h}: got ${m.width}x${m.height}`,
          );
        } else {
          assert.ok(
            m.width >= w && m.height >= h,
            `${method} ${w}x${h}: got ${m.width}x${m.height}`,
          );
          assert.ok(
            Math.abs(m.width / m.height - w / h) < 0.05,
            "crop keeps the requested aspect ratio",
          );
        }
      }

      // Larger than every configured crop: the largest one (96×96), nothing generated.
      const wide = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/thumbnail/${SERVER_NAME}/${big.mediaId}?width=500&height=100&method=crop`,
        { token: TOKENS.alice },
      );
      assert.equal(wide.status, 200);
      const wm = await sharp(wide.body).metadata();
      assert.deepEqual([wm.width, wm.height], [96, 96]);
      assert.equal((await f.metadata.getThumbnails(SERVER_NAME, big.mediaId)).length, 5);

      const tiny = await upload(f.baseUrl, tinyPng, "image/png");
      const t = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/thumbnail/${SERVER_NAME}/${tiny.mediaId}?width=32&height=32&method=crop`,
        { token: TOKENS.alice },
      );
      assert.equal(t.status, 200);
      const tm = await sharp(t.body).metadata();
      assert.equal(tm.width, 1);
      assert.equal(tm.height, 1);
    });

    it("unknown endpoint → 404 M_UNRECOGNIZED, PATCH upload → 405, no token → 401 M_MISSING_TOKEN", async () => {
      const unknown = await request(f.baseUrl, "GET", "/_matrix/media/v3/unknown_endpoint", {
        token: TOKENS.alice,
      });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json().errcode, "M_UNRECOGNIZED");
      const unknownV1 = await request(f.baseUrl, "GET", "/_matrix/client/v1/media/nope/x/y", {
        token: TOKENS.alice,
      });
      assert.equal(unknownV1.status, 404);
      assert.equal(unknownV1.json().errcode, "M_UNRECOGNIZED");
      const patch = await request(f.baseUrl, "PATCH", "/_matrix/media/v3/upload", {
        token: TOKENS.alice,
        body: "x",
      });
      assert.equal(patch.status, 405);
      assert.equal(patch.json().errcode, "M_UNRECOGNIZED");
      for (const path of [
        "/_matrix/client/v1/media/config",
        "/_matrix/media/v3/upload",
        "/_matrix/client/v1/media/download/test.local/abc",
        "/_matrix/client/v1/media/..%2F..%2Fodd/path",
        "/_matrix/media/v3/unknown_endpoint",
      ]) {
        const res = await request(
          f.baseUrl,
          path === "/_matrix/media/v3/upload" ? "POST" : "GET",
          path,
        );
        assert.equal(res.status, 401, path);
        assert.equal(res.json().errcode, "M_MISSING_TOKEN");
      }
      const bad = await request(f.baseUrl, "GET", "/_matrix/client/v1/media/config", {
        token: "wrong",
      });
      assert.equal(bad.status, 401);
      assert.equal(bad.json().errcode, "M_UNKNOWN_TOKEN");
      const config = await request(f.baseUrl, "GET", "/_matrix/client/v1/media/config", {
        token: TOKENS.alice,
      });
      assert.deepEqual(config.json(), { "m.upload.size": LIMIT });
    });

    it("rejects ../, %2e%2e, %2F and NUL in media IDs and server names with 400/404 and no storage access", async () => {
      const paths = [
        "/_matrix/client/v1/media/download/test.local/..%2F..%2Fetc%2Fpasswd",
        "/_matrix/client/v1/media/download/../test.local/abc",
        "/_matrix/client/v1/media/download/test.local/%2e%2e",
        "/_matrix/client/v1/media/download/%2e%2e/abc",
        "/_matrix/client/v1/media/download/test.local%2F..%2F/abc",
        "/_matrix/client/v1/media/download/test.local/abc%00def",
        "/_matrix/client/v1/media/download/test.local%00/abc",
        "/_matrix/client/v1/media/download/test.local/abc%2Fdef",
        "/_matrix/client/v1/media/thumbnail/test.local/..%2Fx?width=32&height=32",
        "/_matrix/client/v1/media/thumbnail/..%2F/abc?width=32&height=32",
        "/_matrix/media/v3/download/test.local/%2e%2e%2f%2e%2e",
        "/_matrix/client/v1/media/download/test.local/%ZZ",
      ];
      await f.repo.whenIdle(); // background thumbnail work of earlier tests
      f.datastoreSpy.calls = 0;
      f.metadataSpy.calls = 0;
      for (const path of paths) {
        const res = await request(f.baseUrl, "GET", path, { token: TOKENS.alice });
        assert.ok(res.status === 400 || res.status === 404, `${path}: ${res.status}`);
      }
      const put = await request(f.baseUrl, "PUT", "/_matrix/media/v3/upload/test.local/..%2Fx", {
        token: TOKENS.alice,
        body: "x",
      });
      assert.ok(put.status === 400 || put.status === 404);
      assert.equal(f.datastoreSpy.calls, 0, "no datastore call");
      assert.equal(f.metadataSpy.calls, 0, "no metadata call");
    });

    it("1 byte over the limit → 413 with Content-Length and chunked, nothing left behind", async () => {
      const filesBefore = (await f.files()).sort();
      const countBefore = (await f.metadata.getUsage("@alice:test.local")).count;
      const over = Buffer.alloc(LIMIT + 1, 1);
      const withLength = await request(f.baseUrl, "POST", "/_matrix/media/v3/upload", {
        token: TOKENS.alice,
        body: over,
        headers: { "Content-Type": "application/octet-stream" },
      });
      assert.equal(withLength.status, 413);
      assert.equal(withLength.json().errcode, "M_TOO_LARGE");

      const chunked = await chunkedUpload(
        f.baseUrl,
        (function* () {
          for (let i = 0; i < over.length; i += 65536) yield over.subarray(i, i + 65536);
        })(),
      );
      assert.equal(chunked.status, 413);
      assert.equal(JSON.parse(chunked.body).errcode, "M_TOO_LARGE");
      await Promise.all(f.datastoreSpy.puts);
      assert.deepEqual((await f.files()).sort(), filesBefore, "no blob or temp file left");
      assert.equal(
        (await f.metadata.getUsage("@alice:test.local")).count,
        countBefore,
        "no record",
      );

      const exact = await request(f.baseUrl, "POST", "/_matrix/media/v3/upload", {
        token: TOKENS.alice,
        body: Buffer.alloc(LIMIT, 2),
      });
      assert.equal(exact.status, 200, "exactly the limit is fine");
    });

    it("a client disconnecting mid-upload leaves nothing stored", async () => {
      const filesBefore = (await f.files()).sort();
      const countBefore = (await f.metadata.getUsage("@alice:test.local")).count;
      const putsBefore = f.datastoreSpy.puts.length;
      const url = new URL(f.baseUrl);
      const socket = net.connect(Number(url.port), "127.0.0.1");
      await new Promise((r) => socket.once("connect", r));
      socket.write(
        "POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: x\r\n" +
          `Authorization: Bearer ${TOKENS.alice}\r\nContent-Length: 1000000\r\n\r\n`,
      );
      socket.write(Buffer.alloc(300_000, 3));
      await waitFor(() => f.datastoreSpy.puts.length > putsBefore);
      await new Promise((r) => setTimeout(r, 50));
      socket.destroy();
      await Promise.all(f.datastoreSpy.puts);
      await waitFor(async () => (await f.files()).sort().join() === filesBefore.join());
      assert.deepEqual((await f.files()).sort(), filesBefore, "no blob or temp file left");
      assert.equal(
        (await f.metadata.getUsage("@alice:test.local")).count,
        countBefore,
        "no record",
      );
    });

    it("quarantine through the admin route: 404 on download and thumbnail, gone from the cache; non-admins get 403", async () => {
      const { mediaId } = await upload(f.baseUrl, tinyPng, "image/png");
      const dl = `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`;
      const th = `/_matrix/client/v1/media/thumbnail/${SERVER_NAME}/${mediaId}?width=32&height=32&method=crop`;
      assert.equal((await request(f.baseUrl, "GET", dl, { token: TOKENS.alice })).status, 200);
      assert.equal((await request(f.baseUrl, "GET", th, { token: TOKENS.alice })).status, 200);
      await f.repo.whenIdle();
      const record = (await f.metadata.getMedia(SERVER_NAME, mediaId))!;
      const thumbs = await f.metadata.getThumbnails(SERVER_NAME, mediaId);
      assert.ok(thumbs.length > 0);
      assert.ok(await f.cache.get(blobCacheKey(record.sha256)), "cached after a download");
      assert.ok(await f.cache.get(blobCacheKey(thumbs[0]!.sha256)), "thumbnail cached");

      const admin = `/_synapse/admin/v1/media/quarantine/${SERVER_NAME}/${mediaId}`;
      const denied = await request(f.baseUrl, "POST", admin, { token: TOKENS.bob });
      assert.equal(denied.status, 403);
      assert.equal(denied.json().errcode, "M_FORBIDDEN");
      assert.equal((await request(f.baseUrl, "GET", dl, { token: TOKENS.alice })).status, 200);

      const ok = await request(f.baseUrl, "POST", admin, { token: TOKENS.admin });
      assert.equal(ok.status, 200);
      for (const p of [dl, th, `/_matrix/media/v3/download/${SERVER_NAME}/${mediaId}`]) {
        const res = await request(f.baseUrl, "GET", p, { token: TOKENS.alice });
        assert.equal(res.status, 404, p);
        assert.equal(res.json().errcode, "M_NOT_FOUND");
      }
      assert.equal(
        await f.cache.get(blobCacheKey(record.sha256)),
        undefined,
        "media gone from the cache",
      );
      for (const t of thumbs) assert.equal(await f.cache.get(blobCacheKey(t.sha256)), undefined);

      // Re-uploading the same bytes does not escape the quarantine.
      const again = await upload(f.baseUrl, tinyPng, "image/png");
      const res = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/${SERVER_NAME}/${again.mediaId}`,
        {
          token: TOKENS.alice,
        },
      );
      assert.equal(res.status, 404);

      const un = await request(
        f.baseUrl,
        "POST",
        `/_synapse/admin/v1/media/unquarantine/${SERVER_NAME}/${mediaId}`,
        {
          token: TOKENS.admin,
        },
      );
      assert.equal(un.status, 200);
      assert.equal((await request(f.baseUrl, "GET", dl, { token: TOKENS.alice })).status, 200);

      const del = await request(
        f.baseUrl,
        "DELETE",
        `/_synapse/admin/v1/media/${SERVER_NAME}/${mediaId}`,
        {
          token: TOKENS.bob,
        },
      );
      assert.equal(del.status, 403);
      const del2 = await request(
        f.baseUrl,
        "DELETE",
        `/_synapse/admin/v1/media/${SERVER_NAME}/${mediaId}`,
        {
          token: TOKENS.admin,
        },
      );
      assert.equal(del2.status, 200);
      assert.equal((await request(f.baseUrl, "GET", dl, { token: TOKENS.alice })).status, 404);
    });

    it("single ranges → 206 with the security headers; 200 overlapping ranges → no amplification; past the end → 416", async () => {
      const bytes = Buffer.from("0123456789".repeat(100));
      const { mediaId } = await upload(f.baseUrl, bytes, "application/octet-stream");
      const dl = `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`;
      const one = await request(f.baseUrl, "GET", dl, {
        token: TOKENS.alice,
        headers: { Range: "bytes=10-19" },
      });
      assert.equal(one.status, 206);
      assert.equal(one.headers["content-range"], "bytes 10-19/1000");
      assert.equal(one.body.toString(), "0123456789");
      assertSecurityHeaders(one.headers);
      assert.equal(
        contentDispositionLib.parse(String(one.headers["content-disposition"])).type,
        "attachment",
      );
      const suffix = await request(f.baseUrl, "GET", dl, {
        token: TOKENS.alice,
        headers: { Range: "bytes=-3" },
      });
      assert.equal(suffix.body.toString(), "789");

      const many = Array.from({ length: 200 }, () => "0-999").join(",");
      const amp = await request(f.baseUrl, "GET", dl, {
        token: TOKENS.alice,
        headers: { Range: `bytes=${many}` },
      });
      assert.ok(amp.status === 200 || amp.status === 416, `status ${amp.status}`);
      assert.ok(amp.body.length <= bytes.length, `${amp.body.length} bytes for a 1000-byte file`);

      const past = await request(f.baseUrl, "GET", dl, {
        token: TOKENS.alice,
        headers: { Range: "bytes=5000-" },
      });
      assert.equal(past.status, 416);
      assert.equal(past.headers["content-range"], "bytes */1000");

      // Larger than the cached size: streamed from the datastore with a range.
      const large = Buffer.alloc(LIMIT, 9);
      large.write("tail", LIMIT - 4);
      const big = await upload(f.baseUrl, large, "application/octet-stream");
      const r = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/${SERVER_NAME}/${big.mediaId}`,
        {
          token: TOKENS.alice,
          headers: { Range: `bytes=${LIMIT - 4}-` },
        },
      );
      assert.equal(r.status, 206);
      assert.equal(r.body.toString(), "tail");
    });

    it("ETag and If-None-Match → 304; HEAD has headers and no body; CORS preflight; legacy download without a token", async () => {
      const { mediaId } = await upload(f.baseUrl, "etag me", "text/plain");
      const dl = `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`;
      const first = await request(f.baseUrl, "GET", dl, { token: TOKENS.alice });
      const etag = String(first.headers.etag);
      assert.match(etag, /^"[0-9a-f]{64}"$/);
      assert.ok(first.headers["cache-control"]);
      const second = await request(f.baseUrl, "GET", dl, {
        token: TOKENS.alice,
        headers: { "If-None-Match": etag },
      });
      assert.equal(second.status, 304);
      assert.equal(second.body.length, 0);
      assertSecurityHeaders(second.headers);
      const head = await request(f.baseUrl, "HEAD", dl, { token: TOKENS.alice });
      assert.equal(head.status, 200);
      assert.equal(head.headers["content-length"], "7");
      assert.equal(head.body.length, 0);
      const pre = await request(f.baseUrl, "OPTIONS", dl, {
        headers: { Origin: "https://app.example", "Access-Control-Request-Method": "GET" },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers["access-control-allow-origin"], "*");
      assert.match(String(pre.headers["access-control-allow-headers"]), /Authorization/);
      const legacy = await request(
        f.baseUrl,
        "GET",
        `/_matrix/media/v3/download/${SERVER_NAME}/${mediaId}/x.txt`,
      );
      assert.equal(legacy.status, 200);
      assert.equal(legacy.body.toString(), "etag me");
      const remote = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/other.example/${mediaId}`,
        {
          token: TOKENS.alice,
        },
      );
      assert.equal(remote.status, 404, "remote media that is not stored");
    });

    it("with the default deny list, preview_url of a loopback URL fails without any connection", async () => {
      let connections = 0;
      const origin = http.createServer((_req, res) => res.end("<html></html>"));
      origin.on("connection", () => connections++);
      await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
      after(() => new Promise<void>((r) => origin.close(() => r())));
      const port = (origin.address() as AddressInfo).port;
      const res = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(`http://127.0.0.1:${port}/page`)}`,
        { token: TOKENS.alice },
      );
      assert.ok(res.status >= 400, `status ${res.status}`);
      assert.ok(typeof res.json().errcode === "string");
      assert.equal(connections, 0);
    });
  });
}

describe("media API: previews allowed for a loopback range", () => {
  let f: Fixture;
  let origin: http.Server;
  let port = 0;
  let image: Buffer;
  before(async () => {
    image = await png(64, 48);
    origin = http.createServer((req, res) => {
      if (req.url === "/img.png") {
        res.writeHead(200, { "Content-Type": "image/png" }).end(image);
        return;
      }
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(
        `<html><head><title>t</title><meta property="og:title" content="A page">` +
          `<meta property="og:description" content="About things">` +
          `<meta property="og:image" content="http://127.0.0.1:${port}/img.png"></head><body></body></html>`,
      );
    });
    await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
    port = (origin.address() as AddressInfo).port;
    f = await createFixture({ allowRanges: ["127.0.0.1/32"] });
  });
  after(async () => {
    await f.close();
    await new Promise<void>((r) => origin.close(() => r()));
  });

  it("returns the OpenGraph fields and an mxc:// og:image stored as preview media", async () => {
    const res = await request(
      f.baseUrl,
      "GET",
      `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(`http://127.0.0.1:${port}/page`)}`,
      { token: TOKENS.alice },
    );
    assert.equal(res.status, 200, res.body.toString());
    const og = res.json();
    assert.equal(og["og:title"], "A page");
    assert.equal(og["og:description"], "About things");
    assert.match(
      og["og:image"],
      new RegExp(`^mxc://${SERVER_NAME.replace(".", "\\.")}/[A-Za-z0-9_-]+$`),
    );
    assert.equal(og["matrix:image:size"], image.length);
    const mediaId = String(og["og:image"]).split("/").pop()!;
    const record = await f.metadata.getMedia(SERVER_NAME, mediaId);
    assert.equal(record?.kind, "preview");
    const dl = await request(
      f.baseUrl,
      "GET",
      `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`,
      {
        token: TOKENS.alice,
      },
    );
    assert.deepEqual(dl.body, image);
  });
});

describe("media API hooks", () => {
  it("rate limit → 429 M_LIMIT_EXCEEDED with Retry-After", async () => {
    const f = await createFixture({
      handler: { rateLimit: ({ route }) => (route === "config" ? 1500 : undefined) },
    });
    after(() => f.close());
    const res = await request(f.baseUrl, "GET", "/_matrix/client/v1/media/config", {
      token: TOKENS.alice,
    });
    assert.equal(res.status, 429);
    assert.equal(res.json().errcode, "M_LIMIT_EXCEEDED");
    assert.equal(res.json().retry_after_ms, 1500);
    assert.equal(res.headers["retry-after"], "2");
  });

  it("freezeLegacy refuses unauthenticated legacy downloads, the authenticated API still serves", async () => {
    const f = await createFixture({ handler: { freezeLegacy: true } });
    after(() => f.close());
    const { mediaId } = await upload(f.baseUrl, "frozen", "text/plain");
    const legacy = await request(
      f.baseUrl,
      "GET",
      `/_matrix/media/v3/download/${SERVER_NAME}/${mediaId}`,
    );
    assert.equal(legacy.status, 404);
    const v1 = await request(
      f.baseUrl,
      "GET",
      `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`,
      {
        token: TOKENS.alice,
      },
    );
    assert.equal(v1.status, 200);
  });

  it("serves local media over federation as multipart/mixed when authenticateServer is given", async () => {
    const f = await createFixture({
      handler: {
        authenticateServer: async (req) =>
          req.headers.authorization === "X-Matrix origin=other.example"
            ? "other.example"
            : undefined,
      },
    });
    after(() => f.close());
    const { mediaId } = await upload(f.baseUrl, "over federation", "text/plain", "fed.txt");
    const path = `/_matrix/federation/v1/media/download/${mediaId}`;
    const denied = await request(f.baseUrl, "GET", path);
    assert.equal(denied.status, 401);
    const res = await request(f.baseUrl, "GET", path, {
      headers: { Authorization: "X-Matrix origin=other.example" },
    });
    assert.equal(res.status, 200);
    const boundary = /^multipart\/mixed; boundary=(\S+)$/.exec(
      String(res.headers["content-type"]),
    )?.[1];
    assert.ok(boundary, String(res.headers["content-type"]));
    const parts = res.body.toString().split(`--${boundary}`);
    assert.equal(parts.length, 4, "two parts and the closing delimiter");
    assert.match(parts[1]!, /Content-Type: application\/json\r\n\r\n\{\}\r\n$/);
    assert.match(parts[2]!, /Content-Type: text\/plain; charset=utf-8\r\n/);
    assert.ok(parts[2]!.endsWith("\r\n\r\nover federation\r\n"));
    assert.equal(parts[3], "--\r\n");
    assert.equal(Number(res.headers["content-length"]), res.body.length);
    const missing = await request(f.baseUrl, "GET", "/_matrix/federation/v1/media/download/nope", {
      headers: { Authorization: "X-Matrix origin=other.example" },
    });
    assert.equal(missing.status, 404);

    // Without authenticateServer the federation paths are not media routes.
    const plain = await createFixture();
    after(() => plain.close());
    const other = await request(plain.baseUrl, "GET", path, {
      headers: { Authorization: "X-Matrix origin=other.example" },
    });
    assert.equal(other.status, 404);
    assert.equal(other.body.length, 0, "fell through to the app");
  });
});
