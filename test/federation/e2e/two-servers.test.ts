// Two (three) standalone servers with their own names, keys and TLS fetch each other's media
// over real HTTPS with real X-Matrix signatures, and refuse what is not properly signed.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient } from "matrix-js-sdk";
import sharp from "sharp";
import {
  generateSigningKey,
  signRequest,
  verifyServerKeys,
} from "../../../src/federation/index.js";
import { ConfigError } from "../../../src/index.js";
import { resolveConfig, startServer } from "../../server/helpers.js";
import {
  countFederationRequests,
  createTls,
  peerConfig,
  startPeer,
  type Peer,
  type Tls,
} from "./fixture.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("federation between standalone servers", () => {
  let tls: Tls;
  let a: Peer;
  let b: Peer;
  let c: Peer;
  let counter: ReturnType<typeof countFederationRequests>;

  before(async () => {
    tls = await createTls();
    a = await startPeer(tls, { ip: "127.0.0.2" });
    b = await startPeer(tls, { ip: "127.0.0.3" });
    c = await startPeer(tls, { ip: "127.0.0.4" });
    counter = countFederationRequests();
  });
  after(async () => {
    counter.close();
    for (const p of [a, b, c]) await p?.server.close();
    await tls.close();
  });

  const get = (peer: Peer, path: string, headers: Record<string, string> = {}) =>
    tls.fetch(peer.url + path, { headers: { authorization: `Bearer ${peer.token}`, ...headers } });

  it("publishes its own key at /_matrix/key/v2/server, self-signed and valid", async () => {
    const res = await tls.fetch(`${a.url}/_matrix/key/v2/server`);
    assert.equal(res.status, 200);
    const { keys } = verifyServerKeys(await res.json(), a.serverName);
    assert.deepEqual(
      keys.map((k) => [k.keyId, k.publicKey]),
      [[a.key.keyId, a.key.publicKeyBase64]],
    );
  });

  it("a matrix-js-sdk client on A downloads media uploaded on B, byte-identical; fetched once", async () => {
    const bytes = Buffer.alloc(700_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
    const up = await tls.fetch(`${b.url}/_matrix/media/v3/upload?filename=data.bin`, {
      method: "POST",
      headers: { authorization: `Bearer ${b.token}`, "content-type": "application/octet-stream" },
      body: bytes,
    });
    assert.equal(up.status, 200);
    const { content_uri: mxc } = (await up.json()) as { content_uri: string };
    assert.ok(mxc.startsWith(`mxc://${b.serverName}/`));

    const client = createClient({
      baseUrl: a.url,
      accessToken: a.token,
      userId: `@alice:${a.serverName}`,
      fetchFn: tls.fetch as unknown as typeof globalThis.fetch,
    });
    const url = client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true);
    assert.ok(url?.startsWith(`${a.url}/_matrix/client/v1/media/download/`), String(url));
    const before = counter.count("federation_download");
    const downloads = await Promise.all(
      Array.from({ length: 10 }, () =>
        tls.fetch(url!, { headers: { authorization: `Bearer ${a.token}` } }),
      ),
    );
    for (const res of downloads) {
      assert.equal(res.status, 200);
      assert.equal(sha(Buffer.from(await res.arrayBuffer())), sha(bytes));
    }
    assert.equal(
      counter.count("federation_download") - before,
      1,
      "one federation request reached B",
    );
    const record = await a.server.repository.lookup(b.serverName, mxc.split("/").pop()!, {
      allowRemote: false,
    });
    assert.equal(record.kind, "remote");
    assert.equal(record.sha256, sha(bytes));
    assert.equal(record.size, bytes.length);
    client.stopClient();
  });

  it("thumbnails of remote media are made on A from the stored original", async () => {
    const png = await sharp({
      create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 20, b: 90 } },
    })
      .png()
      .toBuffer();
    const up = await tls.fetch(`${c.url}/_matrix/media/v3/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.token}`, "content-type": "image/png" },
      body: png,
    });
    const mxc = ((await up.json()) as { content_uri: string }).content_uri;
    const thumbsBefore = counter.count("federation_thumbnail");
    const res = await get(
      a,
      `/_matrix/client/v1/media/thumbnail/${mxc.slice(6)}?width=64&height=64&method=scale`,
    );
    assert.equal(res.status, 200);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    // The configured size nearest above 64x64 scale (320x240 by default), never the original.
    assert.ok(meta.width < 640 && meta.height < 480, `${meta.width}x${meta.height}`);
    assert.ok(meta.format === "jpeg" || meta.format === "png", String(meta.format));
    assert.equal(counter.count("federation_thumbnail"), thumbsBefore, "no remote thumbnail asked");
  });

  it("a signing key file that cannot be read stops the start with a message naming the key", async () => {
    const { raw } = await peerConfig(tls, { ip: "127.0.0.5", port: 0 });
    raw.federation.signingKeyPath = `${tls.dir}/missing.key`;
    await assert.rejects(startServer(resolveConfig(raw, {}, tls.dir)), (err: unknown) => {
      assert.ok(ConfigError.is(err), String(err));
      assert.match(err.message, /federation\.signingKeyPath/);
      return true;
    });
  });

  it("the admin purge of remote media forgets it; the next download fetches it again", async () => {
    const up = await tls.fetch(`${b.url}/_matrix/media/v3/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${b.token}`, "content-type": "text/plain" },
      body: "purge me",
    });
    const path = ((await up.json()) as { content_uri: string }).content_uri.slice(6);
    const fetches = () => counter.count("federation_download");
    const start = fetches();
    assert.equal((await get(a, `/_matrix/client/v1/media/download/${path}`)).status, 200);
    assert.equal(fetches() - start, 1);
    const notAdmin = await tls.fetch(
      `${a.url}/_synapse/admin/v1/purge_media_cache?before_ts=${Date.now() + 60_000}`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${a.token}` },
      },
    );
    assert.equal(notAdmin.status, 403);
    const purge = await tls.fetch(
      `${a.url}/_synapse/admin/v1/purge_media_cache?before_ts=${Date.now() + 60_000}`,
      {
        method: "POST",
        headers: { authorization: "Bearer admin-127.0.0.2" },
      },
    );
    assert.equal(purge.status, 200);
    assert.ok(((await purge.json()) as { deleted: number }).deleted >= 1);
    const again = await get(a, `/_matrix/client/v1/media/download/${path}`);
    assert.equal(again.status, 200);
    assert.equal(await again.text(), "purge me");
    assert.equal(fetches() - start, 2, "fetched again after the purge");
  });

  it("media missing on the remote is 404 M_NOT_FOUND on A", async () => {
    const res = await get(a, `/_matrix/client/v1/media/download/${b.serverName}/doesnotexist123`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { errcode: string }).errcode, "M_NOT_FOUND");
  });

  it("an invalid server name or media ID is refused before any network call", async () => {
    const before = counter.count("federation_download");
    for (const path of [
      "/_matrix/client/v1/media/download/bad..name/abc",
      `/_matrix/client/v1/media/download/${b.serverName}/has%20space`,
    ]) {
      const res = await get(a, path);
      assert.equal(res.status, 400, path);
      assert.equal(((await res.json()) as { errcode: string }).errcode, "M_INVALID_PARAM");
    }
    assert.equal(counter.count("federation_download"), before);
  });

  describe("inbound federation requests are verified", () => {
    let mediaId: string;
    before(async () => {
      const up = await tls.fetch(`${b.url}/_matrix/media/v3/upload`, {
        method: "POST",
        headers: { authorization: `Bearer ${b.token}`, "content-type": "text/plain" },
        body: "signed only",
      });
      mediaId = ((await up.json()) as { content_uri: string }).content_uri.split("/").pop()!;
    });
    const uri = () => `/_matrix/federation/v1/media/download/${mediaId}`;
    const fed = (authorization?: string) =>
      tls.fetch(b.url + uri(), { headers: authorization ? { authorization } : {} });
    const errcode = async (res: Response | Awaited<ReturnType<Tls["fetch"]>>) =>
      ((await res.json()) as { errcode: string }).errcode;

    it("accepts a request signed by A's published key", async () => {
      const res = await fed(
        signRequest(a.key, {
          method: "GET",
          uri: uri(),
          origin: a.serverName,
          destination: b.serverName,
        }),
      );
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^multipart\/mixed; boundary=/);
      assert.match(await res.text(), /signed only/);
    });

    const refusals: Array<[string, () => string | undefined]> = [
      ["unsigned", () => undefined],
      ["garbage syntax", () => 'X-Matrix origin="unterminated'],
      [
        "signed with a key A does not publish",
        () =>
          signRequest(generateSigningKey("a_other"), {
            method: "GET",
            uri: uri(),
            origin: a.serverName,
            destination: b.serverName,
          }),
      ],
      [
        "a bad signature (a different key under A's key ID)",
        () =>
          signRequest(
            { ...generateSigningKey(a.key.version), keyId: a.key.keyId },
            { method: "GET", uri: uri(), origin: a.serverName, destination: b.serverName },
          ),
      ],
      [
        "the wrong destination",
        () =>
          signRequest(a.key, {
            method: "GET",
            uri: uri(),
            origin: a.serverName,
            destination: c.serverName,
          }),
      ],
      [
        "a signature replayed for another media ID",
        () =>
          signRequest(a.key, {
            method: "GET",
            uri: "/_matrix/federation/v1/media/download/other",
            origin: a.serverName,
            destination: b.serverName,
          }),
      ],
      [
        "another origin's name on A's signature",
        () =>
          signRequest(a.key, {
            method: "GET",
            uri: uri(),
            origin: c.serverName,
            destination: b.serverName,
          }),
      ],
    ];
    for (const [name, header] of refusals) {
      it(`refuses ${name} with 401 M_UNAUTHORIZED`, async () => {
        const res = await fed(header());
        assert.equal(res.status, 401);
        assert.equal(await errcode(res), "M_UNAUTHORIZED");
      });
    }
  });
});
