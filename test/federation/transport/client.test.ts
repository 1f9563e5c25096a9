import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { createFederationClient } from "../../../src/federation/client.js";
import type { FederationClient } from "../../../src/federation/client.js";
import { createServerDiscovery } from "../../../src/federation/discovery.js";
import { createSafeFetch } from "../../../src/preview/safe-fetch.js";
import type { Handler, Peers } from "./helpers.js";
import {
  PEER_RANGES,
  dials,
  lookup,
  multipart,
  socketsClosed,
  srvResolver,
  startPeers,
  totalConnections,
} from "./helpers.js";

const B = "fedB0undary";
const AUTH = 'X-Matrix origin="ours.test",key="ed25519:a",sig="s"';
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

async function sha256(stream: Readable): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

describe("createFederationClient.downloadMedia", () => {
  let peers: Peers;
  let client: FederationClient;
  let discoveryFetch: ReturnType<typeof createSafeFetch>;
  const media = randomBytes(1024 * 1024);
  const digest = createHash("sha256").update(media).digest("hex");
  let route: Handler;

  before(async () => {
    process.on("unhandledRejection", onUnhandled);
    peers = await startPeers();
    // Every answer closes its connection, so any socket still open after a test is a leak.
    peers.handler = (req, res, ip) => {
      res.setHeader("connection", "close");
      route(req, res, ip);
    };
    discoveryFetch = createSafeFetch({ allowRanges: PEER_RANGES, lookup, tls: { ca: peers.ca } });
    const srv = srvResolver({
      "_matrix-fed._tcp.b.test": [{ name: "b.test", port: peers.port }],
      "_matrix-fed._tcp.legacy.test": [{ name: "legacy.test", port: peers.port }],
    });
    client = createFederationClient({
      serverName: "ours.test",
      authorize: ({ method, uri, destination }) =>
        `${AUTH},m="${method}",u="${uri}",d="${destination}"`,
      discovery: createServerDiscovery({
        fetch: discoveryFetch,
        resolveSrv: srv.resolveSrv,
        wellKnownPort: peers.port,
      }),
      allowRanges: PEER_RANGES,
      lookup,
      tls: { ca: peers.ca },
      timeoutMs: 10_000,
    });
  });
  after(async () => {
    await client.close();
    await discoveryFetch.close();
    await peers.close();
    process.off("unhandledRejection", onUnhandled);
    assert.deepEqual(unhandled, []);
  });
  beforeEach(() => {
    peers.requests.length = 0;
  });
  afterEach(async () => {
    assert.ok(await socketsClosed(peers), `sockets left open: ${peers.openSockets}`);
  });

  /** Serves the federation endpoint on b.test; the legacy and other paths give 404. */
  const federation =
    (write: (res: ServerResponse) => void): Handler =>
    (req, res) => {
      if (req.url?.startsWith("/_matrix/federation/v1/media/download/")) return write(res);
      if (req.url === "/.well-known/matrix/server") return void res.writeHead(404).end();
      res
        .writeHead(404, { "content-type": "application/json" })
        .end('{"errcode":"M_UNRECOGNIZED"}');
    };
  const multipartType = { "content-type": `multipart/mixed; boundary=${B}`, connection: "close" };

  it("streams 1 MiB from the multipart body, signed, with the right Host", async () => {
    route = federation((res) =>
      res
        .writeHead(200, multipartType)
        .end(
          multipart(
            B,
            "{}",
            'Content-Type: image/png\r\nContent-Disposition: attachment; filename="cat.png"',
            media,
          ),
        ),
    );
    const got = await client.downloadMedia("b.test", "abc_DEF-1");
    assert.equal(got.via, "federation");
    assert.equal(got.contentType, "image/png");
    assert.equal(got.filename, "cat.png");
    assert.equal(await sha256(got.stream), digest);
    const seen = peers.requests.at(-1)!;
    assert.equal(seen.path, "/_matrix/federation/v1/media/download/abc_DEF-1");
    assert.equal(seen.host, "b.test");
    assert.equal(
      seen.authorization,
      `${AUTH},m="GET",u="/_matrix/federation/v1/media/download/abc_DEF-1",d="b.test"`,
    );
  });

  it("follows a Location part to another host without our Authorization", async () => {
    route = (req, res, ip) => {
      if (ip === "127.0.0.5")
        return void res
          .writeHead(200, {
            "content-type": "image/jpeg",
            "content-length": String(media.length),
            connection: "close",
          })
          .end(media);
      federation((r) =>
        r
          .writeHead(200, multipartType)
          .end(
            Buffer.from(
              `--${B}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${B}\r\nLocation: https://media.test:${peers.port}/cdn/x\r\n\r\n\r\n--${B}--\r\n`,
            ),
          ),
      )(req, res, ip);
    };
    const got = await client.downloadMedia("b.test", "loc");
    assert.equal(got.via, "location");
    assert.equal(got.contentLength, media.length);
    assert.equal(await sha256(got.stream), digest);
    const cdn = peers.requests.find((r) => r.ip === "127.0.0.5")!;
    assert.equal(cdn.path, "/cdn/x");
    assert.equal(cdn.authorization, undefined);
    assert.ok(
      peers.requests.find((r) => r.ip === "127.0.0.2")!.authorization?.startsWith("X-Matrix"),
    );
  });

  const locationTo = (location: string) =>
    federation((r) =>
      r
        .writeHead(200, multipartType)
        .end(
          `--${B}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${B}\r\nLocation: ${location}\r\n\r\n\r\n--${B}--\r\n`,
        ),
    );

  it("refuses Locations to denied addresses, other schemes and with userinfo", async () => {
    const mark = dials.length;
    for (const location of [
      `https://private.test:${peers.port}/x`,
      `https://127.0.0.7:${peers.port}/x`,
      "file:///etc/passwd",
      `https://user:pw@media.test:${peers.port}/x`,
    ]) {
      route = locationTo(location);
      await assert.rejects(client.downloadMedia("b.test", "m"), { status: 502 }, location);
    }
    assert.ok(!dials.slice(mark).includes("127.0.0.7"));
    assert.equal(peers.requests.filter((r) => r.ip === "127.0.0.5").length, 0);
  });

  it("a guard refusal keeps its reason on cause", async () => {
    route = locationTo(`https://private.test:${peers.port}/x`);
    await assert.rejects(
      client.downloadMedia("b.test", "m"),
      (error: any) => error.status === 502 && error.cause?.reason === "address-denied",
    );
  });

  it("errors the stream on more bytes than declared and over the cap", async () => {
    route = federation((res) =>
      res
        .writeHead(200, multipartType)
        .end(
          multipart(B, "{}", "Content-Type: text/plain\r\nContent-Length: 10", Buffer.alloc(20, 1)),
        ),
    );
    const more = await client.downloadMedia("b.test", "m");
    await assert.rejects(sha256(more.stream), {
      status: 502,
      message: /more bytes than it declared/,
    });

    route = federation((res) =>
      res.writeHead(200, multipartType).end(multipart(B, "{}", "Content-Type: text/plain", media)),
    );
    const big = await client.downloadMedia("b.test", "m", { maxBytes: 1000 });
    await assert.rejects(sha256(big.stream), { status: 502, errcode: "M_TOO_LARGE" });

    route = federation((res) =>
      res
        .writeHead(200, multipartType)
        .end(
          multipart(B, "{}", `Content-Type: text/plain\r\nContent-Length: ${media.length}`, media),
        ),
    );
    await assert.rejects(client.downloadMedia("b.test", "m", { maxBytes: 1000 }), {
      status: 502,
      errcode: "M_TOO_LARGE",
    });
  });

  it("cuts a trickling server at the deadline", async () => {
    route = federation((res) => {
      res.writeHead(200, multipartType);
      res.write(
        `--${B}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${B}\r\nContent-Type: text/plain\r\n\r\n`,
      );
      const timer = setInterval(() => res.write("x"), 100);
      res.on("close", () => clearInterval(timer));
    });
    const got = await client.downloadMedia("b.test", "m", { timeoutMs: 1500 });
    await assert.rejects(sha256(got.stream), { status: 504 });
  });

  it("refuses a 200 that is not multipart/mixed", async () => {
    route = federation((res) =>
      res
        .writeHead(200, { "content-type": "text/html", connection: "close" })
        .end("<html>oops</html>"),
    );
    await assert.rejects(client.downloadMedia("b.test", "m"), { status: 502 });
    route = federation((res) =>
      res.writeHead(200, { connection: "close" }).end(multipart(B, "{}", "", media)),
    );
    await assert.rejects(client.downloadMedia("b.test", "m"), { status: 502 });
  });

  it("maps a remote M_NOT_FOUND to 404 and other errors to 502", async () => {
    route = federation((res) =>
      res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_NOT_FOUND"}'),
    );
    await assert.rejects(client.downloadMedia("b.test", "m"), {
      status: 404,
      errcode: "M_NOT_FOUND",
    });
    route = federation((res) => res.writeHead(500).end("boom"));
    await assert.rejects(client.downloadMedia("b.test", "m"), { status: 502 });
  });

  it("refuses an invalid server name or media ID before any connection", async () => {
    const before = totalConnections(peers);
    for (const [origin, id] of [
      ["b.test/x", "m"],
      ["b.test", "../etc"],
      ["", "m"],
      ["b.test", ""],
    ] as const) {
      await assert.rejects(client.downloadMedia(origin, id), {
        status: 400,
        errcode: "M_INVALID_PARAM",
      });
    }
    assert.equal(totalConnections(peers), before);
  });

  it("falls back to the legacy endpoint only when asked and only for M_UNRECOGNIZED", async () => {
    route = (req, res) => {
      if (req.url === "/_matrix/media/v3/download/legacy.test/old?allow_remote=false") {
        return void res
          .writeHead(200, {
            "content-type": "text/plain",
            "content-disposition": "inline; filename*=UTF-8''%E2%98%95.txt",
            connection: "close",
          })
          .end("legacy bytes");
      }
      res
        .writeHead(404, { "content-type": "application/json" })
        .end('{"errcode":"M_UNRECOGNIZED"}');
    };
    await assert.rejects(client.downloadMedia("legacy.test", "old"), { status: 502 });
    const got = await client.downloadMedia("legacy.test", "old", { legacyFallback: true });
    assert.equal(got.via, "legacy");
    assert.equal(got.filename, "☕.txt");
    assert.equal((await sha256(got.stream)).length, 64);
    const legacy = peers.requests.at(-1)!;
    assert.equal(legacy.authorization, undefined);
    assert.equal(legacy.host, "legacy.test");
    route = federation((res) =>
      res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_NOT_FOUND"}'),
    );
    await assert.rejects(client.downloadMedia("legacy.test", "old", { legacyFallback: true }), {
      status: 404,
    });
    assert.ok(
      !peers.requests.some(
        (r) =>
          r.path.startsWith("/_matrix/media/v3/") &&
          r.ip === "127.0.0.6" &&
          peers.requests.indexOf(r) > peers.requests.indexOf(legacy),
      ),
    );
  });

  it("getJson refuses a redirect and a non-JSON answer", async () => {
    route = (_req, res) => res.writeHead(302, { location: "https://media.test/x" }).end();
    await assert.rejects(client.getJson("b.test", "/_matrix/key/v2/server"), { status: 502 });
    route = (_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<p>");
    await assert.rejects(client.getJson("b.test", "/_matrix/key/v2/server"), { status: 502 });
    await assert.rejects(client.getJson("b.test", "no-slash"), { status: 400 });
    assert.equal(peers.requests.filter((r) => r.ip === "127.0.0.5").length, 0);
  });
});
