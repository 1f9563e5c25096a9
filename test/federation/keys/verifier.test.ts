import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { ConfigError, MediaError } from "../../../src/errors.js";
import {
  createKeyFetcher,
  createRequestVerifier,
  formatXMatrix,
  generateSigningKey,
  memoryKeyStore,
  parseXMatrix,
  serverKeyResponse,
  signRequest,
  type RequestVerifier,
} from "../../../src/federation/index.js";
import {
  createTestCertificates,
  loopbackFetchJson,
  startKeyServer,
  type KeyServer,
} from "./helpers.js";

const DAY = 24 * 3600_000;
const T0 = 1_700_000_000_000;
const remoteKey = generateSigningKey("r1");
const URI = "/_matrix/federation/v1/media/download/abc?timeout_ms=20000";

describe("createRequestVerifier over HTTPS", () => {
  let keyServer: KeyServer;
  let media: https.Server;
  let mediaPort = 0;
  let ca: Buffer;
  let clock = T0;
  let verifier: RequestVerifier;

  before(async () => {
    const certs = await createTestCertificates();
    ca = certs.ca;
    keyServer = await startKeyServer("127.0.0.2", certs, () => ({
      body: serverKeyResponse(remoteKey, { serverName: "remote.test", validUntilTs: T0 + DAY }),
    }));
    const fetchJson = loopbackFetchJson(ca, { "remote.test": keyServer });
    const keys = createKeyFetcher({
      serverName: "media.test",
      store: memoryKeyStore({ maxServers: 10 }),
      fetchJson,
      now: () => clock,
      negativeCacheMs: 0,
    });
    verifier = createRequestVerifier({
      serverNames: ["media.test", "alias.test"],
      keys,
      now: () => clock,
    });
    // A media server that authenticates every request, the way a homeserver would wire it.
    media = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        verifier
          .verify({
            method: req.method!,
            uri: req.url!,
            headers: { authorization: req.headersDistinct.authorization },
            content: body === "" ? undefined : (JSON.parse(body) as unknown),
          })
          .then(
            (who) => {
              res.writeHead(200, { "content-type": "application/json" });
              res.end(JSON.stringify(who));
            },
            (err: unknown) => {
              const status = MediaError.is(err) ? err.status : 500;
              res.writeHead(status, { "content-type": "application/json" });
              res.end(JSON.stringify(MediaError.is(err) ? err.toJSON() : { errcode: "M_UNKNOWN" }));
            },
          );
      });
    });
    await new Promise<void>((resolve) => media.listen(0, "127.0.0.4", resolve));
    mediaPort = (media.address() as AddressInfo).port;
  });
  after(async () => {
    await keyServer.close();
    media.closeAllConnections();
    await new Promise((resolve) => media.close(resolve));
  });
  beforeEach(() => {
    clock = T0;
  });

  const send = (
    authorization: string | string[] | undefined,
    options: { method?: string; uri?: string; content?: unknown } = {},
  ) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const payload = options.content === undefined ? undefined : JSON.stringify(options.content);
      const headers: Record<string, string | string[]> = {};
      if (authorization !== undefined) headers.authorization = authorization;
      if (payload !== undefined) headers["content-type"] = "application/json";
      const req = https.request(
        {
          host: "127.0.0.4",
          port: mediaPort,
          path: options.uri ?? URI,
          method: options.method ?? "GET",
          ca,
          agent: false,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode!,
              body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  const signed = (over: Partial<Parameters<typeof signRequest>[1]> = {}, key = remoteKey) =>
    signRequest(key, {
      method: "GET",
      uri: URI,
      origin: "remote.test",
      destination: "media.test",
      ...over,
    });
  const refused = async (
    response: Promise<{ status: number; body: Record<string, unknown> }>,
    pattern: RegExp,
  ) => {
    const { status, body } = await response;
    assert.equal(status, 401);
    assert.equal(body.errcode, "M_UNAUTHORIZED");
    assert.match(String(body.error), pattern);
  };

  it("accepts a correctly signed request", async () => {
    const { status, body } = await send(signed());
    assert.equal(status, 200);
    assert.deepEqual(body, { origin: "remote.test", keyId: remoteKey.keyId });
  });

  it("accepts a signed JSON body and refuses a changed one", async () => {
    const content = { a: [1, "é"] };
    const auth = signed({ method: "PUT", content });
    assert.equal((await send(auth, { method: "PUT", content })).status, 200);
    await refused(send(auth, { method: "PUT", content: { a: [2] } }), /invalid signature/);
    await refused(send(auth, { method: "PUT" }), /invalid signature/);
  });

  it("accepts any of our names as destination, and a credential without destination", async () => {
    assert.equal((await send(signed({ destination: "alias.test" }))).status, 200);
    const auth = parseXMatrix(signed({ destination: "alias.test" }));
    assert.equal((await send(formatXMatrix({ ...auth, destination: undefined }))).status, 200);
  });

  it("refuses every variation of the signed request", async () => {
    await refused(
      send(signed({ uri: "/_matrix/federation/v1/media/download/other" })),
      /invalid signature/,
    );
    await refused(send(signed({ method: "POST" })), /invalid signature/);
    const auth = parseXMatrix(signed());
    await refused(send(formatXMatrix({ ...auth, destination: "alias.test" })), /invalid signature/);
    await refused(
      send(formatXMatrix({ ...auth, signature: auth.signature.slice(1) })),
      /invalid signature/,
    );
    await refused(send(signed({}, generateSigningKey("r1"))), /invalid signature/);
  });

  it("refuses a wrong destination", async () => {
    await refused(
      send(signed({ destination: "elsewhere.test" })),
      /for elsewhere\.test, not this server/,
    );
  });

  it("refuses an unknown key and a key past valid_until_ts", async () => {
    await refused(send(signed({}, generateSigningKey("unknown"))), /no valid key ed25519:unknown/);
    clock = T0 + DAY + 1;
    await refused(send(signed()), /no valid key ed25519:r1/);
  });

  it("refuses a missing or malformed header", async () => {
    await refused(send(undefined), /Missing X-Matrix/);
    await refused(send("Bearer abc"), /Missing X-Matrix/);
    await refused(send("X-Matrix origin=remote.test"), /required/);
    await refused(send('X-Matrix origin="remote.test'), /unterminated/);
    await refused(
      send(formatXMatrix({ ...parseXMatrix(signed()), origin: "bad/origin" })),
      /not a server name/,
    );
    await refused(
      send(formatXMatrix({ ...parseXMatrix(signed()), keyId: "rsa:1" })),
      /unsupported key/,
    );
  });

  it("accepts when any of several Authorization headers verifies for one origin", async () => {
    const good = signed();
    const bad = formatXMatrix({ ...parseXMatrix(good), keyId: "ed25519:other" });
    assert.equal((await send([bad, good])).status, 200);
    assert.equal((await send(`${bad}, ${good}`)).status, 200);
    await refused(send([bad, bad]), /no valid key/);
    const foreign = formatXMatrix({ ...parseXMatrix(good), origin: "evil.test" });
    await refused(send([foreign, good]), /different origins/);
  });

  it("refuses bad options", () => {
    const keys = { getKey: async () => undefined };
    assert.throws(() => createRequestVerifier({ serverNames: [], keys }), ConfigError);
    assert.throws(() => createRequestVerifier({ serverNames: ["a b"], keys }), ConfigError);
    assert.throws(
      () => createRequestVerifier({ serverNames: ["a.test"], keys: {} as never }),
      ConfigError,
    );
  });
});
