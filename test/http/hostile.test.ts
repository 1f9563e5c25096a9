// Requests built to confuse: Content-Types a browser reads differently from a lenient parser,
// file names that overflow proxies or reverse their extension, query-string tokens, admin
// calls on media that does not exist, and clients that hang up mid-upload.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import contentDispositionLib from "content-disposition";
import { canonicalContentType, safeFilename } from "../../src/http/index.js";
import {
  createFixture,
  request,
  SERVER_NAME,
  TOKENS,
  upload,
  type Fixture,
  waitFor,
} from "./fixture.js";

function download(f: Fixture, mediaId: string, fileName = "") {
  return request(
    f.baseUrl,
    "GET",
    `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}${fileName}`,
    { token: TOKENS.alice },
  );
}

describe("canonicalContentType and safeFilename", () => {
  it("parses per WHATWG; a comma or a parse failure is application/octet-stream", () => {
    const cases: Array<[string | undefined, string | undefined]> = [
      ["image/png;,text/html", "application/octet-stream"],
      ["application/json;,text/html", "application/octet-stream"],
      ["text/plain;,text/html", "application/octet-stream"],
      ["text/html, image/png", "application/octet-stream"],
      ["TEXT/HTML; charset=UTF-8", "text/html; charset=UTF-8"],
      ["Image/PNG", "image/png"],
      ['text/plain; Charset="utf-8"; charset=latin1', "text/plain; charset=utf-8"],
      ['text/plain; name="a b"', 'text/plain; name="a b"'],
      ["garbage", "application/octet-stream"],
      ["image/", "application/octet-stream"],
      ["/png", "application/octet-stream"],
      ["ima ge/png", "application/octet-stream"],
      ["image/png\r\nX-Evil: 1", "application/octet-stream"],
      ["image/pngé", "application/octet-stream"],
      ["", undefined],
      [undefined, undefined],
    ];
    for (const [input, expected] of cases) {
      assert.equal(canonicalContentType(input), expected, JSON.stringify(input));
      if (expected) assert.equal(canonicalContentType(expected), expected, "idempotent");
    }
  });

  it("strips bidi overrides and isolates, cuts at 255 bytes on a character boundary", () => {
    assert.equal(safeFilename("evil\u202Egpj.exe"), "evilgpj.exe");
    assert.equal(safeFilename("\u2066a\u2067b\u2068c\u2069\u202A\u202B\u202C\u202D"), "abc");
    assert.equal(safeFilename("\u202E"), undefined);
    const cups = safeFilename("☕".repeat(100))!;
    assert.equal(Buffer.byteLength(cups), 255);
    const chickens = safeFilename("🐔".repeat(100))!;
    assert.equal(chickens, "🐔".repeat(63), "never half a surrogate pair");
    assert.equal(safeFilename("a".repeat(16 * 1024))!.length, 255);
  });
});

describe("hostile uploads over HTTP", () => {
  let f: Fixture;
  const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
  before(async () => {
    f = await createFixture({
      handler: {
        logger: {
          warn: (m, d) => lines.push(["warn", m, d]),
          error: (m, d) => lines.push(["error", m, d]),
          debug: (m, d) => lines.push(["debug", m, d]),
        },
      },
    });
  });
  after(() => f.close());

  it("stores and serves one canonical type; ambiguous and garbage types are attachments", async () => {
    const cases: Array<[string, string, "inline" | "attachment"]> = [
      ["image/png;,text/html", "application/octet-stream", "attachment"],
      ["application/json;,text/html", "application/octet-stream", "attachment"],
      ["text/plain;,text/html", "application/octet-stream", "attachment"],
      ["TEXT/HTML; charset=UTF-8", "text/html; charset=UTF-8", "attachment"],
      ["garbage", "application/octet-stream", "attachment"],
      ["Image/PNG", "image/png", "inline"],
    ];
    for (const [sent, served, disposition] of cases) {
      const { mediaId } = await upload(f.baseUrl, "<html><script>alert(1)</script>", sent, "f");
      const record = await f.metadata.getMedia(SERVER_NAME, mediaId);
      assert.equal(record?.contentType, served, `stored type of ${sent}`);
      const res = await download(f, mediaId);
      assert.equal(res.headers["content-type"], served, `served type of ${sent}`);
      assert.equal(
        contentDispositionLib.parse(String(res.headers["content-disposition"])).type,
        disposition,
        sent,
      );
    }
  });

  it("serves a type stored before canonicalisation by the same rules", async () => {
    const { mxc } = await f.repo.upload(Buffer.from("<html>"), {
      contentType: "image/png;,text/html",
      uploader: "@alice:test.local",
    });
    const res = await download(f, mxc.split("/").pop()!);
    assert.equal(res.headers["content-type"], "application/octet-stream");
    assert.match(String(res.headers["content-disposition"]), /^attachment/);
  });

  it("caps file names at 255 bytes and strips bidi overrides, at upload and when serving", async () => {
    const long = `${"x".repeat(8 * 1024)}.png`; // node refuses request heads over 16 KiB
    const a = await upload(f.baseUrl, "bytes", "image/png", long);
    assert.equal((await f.metadata.getMedia(SERVER_NAME, a.mediaId))?.filename, "x".repeat(255));
    const served = await download(f, a.mediaId);
    assert.ok(String(served.headers["content-disposition"]).length < 300);

    const b = await upload(f.baseUrl, "bytes", "image/png", "photo\u202Egnp.exe");
    assert.equal((await f.metadata.getMedia(SERVER_NAME, b.mediaId))?.filename, "photognp.exe");

    const named = await download(f, b.mediaId, `/${encodeURIComponent("cat\u2066\u202Egnp.exe")}`);
    const name = contentDispositionLib.parse(String(named.headers["content-disposition"]))
      .parameters.filename;
    assert.equal(name, "catgnp.exe");

    const stored = await f.repo.upload(Buffer.from("b"), {
      contentType: "image/png",
      filename: `\u202E${"é".repeat(400)}`,
      uploader: "@alice:test.local",
    });
    const old = await download(f, stored.mxc.split("/").pop()!);
    const oldName = contentDispositionLib.parse(String(old.headers["content-disposition"]))
      .parameters.filename!;
    assert.equal(oldName, "é".repeat(127), "254 bytes: the next é would pass 255");
  });

  it("logs a client that hangs up mid-upload at debug and counts it, never as an error", async () => {
    const errorsBefore = lines.filter(([level]) => level === "error").length;
    const { port } = new URL(f.baseUrl);
    const socket = net.connect(Number(port), "127.0.0.1");
    socket.on("error", () => undefined);
    socket.write(
      `POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.alice}\r\n` +
        `Content-Length: 100000\r\n\r\n${"a".repeat(1000)}`,
    );
    await waitFor("upload writing", async () => (await f.files()).some((p) => p.includes("tmp")));
    socket.destroy();
    await waitFor("abort counted", () => f.stats().clientAborts === 1);
    assert.equal(lines.filter(([level]) => level === "error").length, errorsBefore);
    assert.ok(lines.some(([level, , d]) => level === "debug" && d?.reason === "client"));
  });
});

describe("query-string access tokens (MSC4127)", () => {
  it("are accepted by default, counted, and warned about at most once a minute", async () => {
    const warnings: string[] = [];
    const f = await createFixture({
      handler: { logger: { warn: (m) => warnings.push(m), error: () => undefined } },
    });
    after(() => f.close());
    for (let i = 0; i < 3; i++) {
      const res = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/config?access_token=${TOKENS.alice}`,
      );
      assert.equal(res.status, 200);
    }
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0]!, /query string/);
    assert.ok(!warnings[0]!.includes(TOKENS.alice), "the token is never logged");
    assert.equal(f.stats().queryTokens, 3);
  });

  it("are refused with 401 M_MISSING_TOKEN when auth.allowQueryToken is false", async () => {
    const f = await createFixture({ handler: { auth: { allowQueryToken: false } } });
    after(() => f.close());
    const query = await request(
      f.baseUrl,
      "GET",
      `/_matrix/client/v1/media/config?access_token=${TOKENS.alice}`,
    );
    assert.equal(query.status, 401);
    assert.equal(query.json().errcode, "M_MISSING_TOKEN");
    const header = await request(f.baseUrl, "GET", "/_matrix/client/v1/media/config", {
      token: TOKENS.alice,
    });
    assert.equal(header.status, 200);
  });
});

describe("admin quarantine of media that is not stored", () => {
  let f: Fixture;
  before(async () => {
    f = await createFixture();
  });
  after(() => f.close());

  it("is 404 M_NOT_FOUND for a missing local or remote ID; stored media stays 200 when repeated", async () => {
    for (const verb of ["quarantine", "unquarantine"]) {
      for (const target of [`${SERVER_NAME}/missingMediaId`, "remote.example/someMediaId"]) {
        const res = await request(f.baseUrl, "POST", `/_synapse/admin/v1/media/${verb}/${target}`, {
          token: TOKENS.admin,
        });
        assert.equal(res.status, 404, `${verb} ${target}`);
        assert.equal(res.json().errcode, "M_NOT_FOUND");
      }
    }
    const { mediaId } = await upload(f.baseUrl, "x", "text/plain");
    for (const verb of ["quarantine", "quarantine", "unquarantine", "unquarantine"]) {
      const res = await request(
        f.baseUrl,
        "POST",
        `/_synapse/admin/v1/media/${verb}/${SERVER_NAME}/${mediaId}`,
        { token: TOKENS.admin },
      );
      assert.equal(res.status, 200, verb);
    }
  });
});
