import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { ConfigError } from "../../../src/errors.js";
import {
  FederationError,
  createKeyFetcher,
  generateSigningKey,
  memoryKeyStore,
  serverKeyResponse,
  signJson,
  verifyServerKeys,
  type KeyFetcherOptions,
} from "../../../src/federation/index.js";
import {
  createTestCertificates,
  loopbackFetchJson,
  startKeyServer,
  type KeyServer,
} from "./helpers.js";

const DAY = 24 * 3600_000;
const T0 = 1_700_000_000_000;
const originKey = generateSigningKey("o1");
const oldKey = generateSigningKey("o0");
const evilKey = generateSigningKey("o1");
const notaryKey = generateSigningKey("n1");

const reason = (r: string) => (err: unknown) => FederationError.is(err) && err.reason === r;
const selfSigned = (validUntilTs: number, serverName = "origin.test", key = originKey) =>
  serverKeyResponse(key, {
    serverName,
    validUntilTs,
    oldKeys: [{ keyId: oldKey.keyId, publicKey: oldKey.publicKeyBase64, expiredTs: T0 - DAY }],
  });

describe("createKeyFetcher against HTTPS key servers", () => {
  let origin: KeyServer;
  let notary: KeyServer;
  let clock = T0;
  const warnings: string[] = [];
  let fetchJson: KeyFetcherOptions["fetchJson"];

  before(async () => {
    const certs = await createTestCertificates();
    origin = await startKeyServer("127.0.0.2", certs, () => ({ body: selfSigned(clock + DAY) }));
    notary = await startKeyServer("127.0.0.3", certs, () => ({ status: 404, body: {} }));
    fetchJson = loopbackFetchJson(certs.ca, { "origin.test": origin, "notary.test": notary });
  });
  after(async () => {
    await origin.close();
    await notary.close();
  });
  beforeEach(() => {
    clock = T0;
    origin.requests = [];
    notary.requests = [];
    warnings.length = 0;
    origin.respond = () => ({ body: selfSigned(clock + DAY) });
    notary.respond = () => ({ status: 404, body: {} });
  });

  const fetcher = (extra: Partial<KeyFetcherOptions> = {}) =>
    createKeyFetcher({
      serverName: "media.test",
      store: memoryKeyStore({ maxServers: 10 }),
      fetchJson,
      now: () => clock,
      logger: {
        warn: (message, details) => void warnings.push(`${message} ${JSON.stringify(details)}`),
      },
      ...extra,
    });
  const withNotary = (key = notaryKey) =>
    fetcher({
      notaries: [{ serverName: "notary.test", verifyKeys: { [key.keyId]: key.publicKeyBase64 } }],
    });

  it("fetches, verifies and stores a valid key", async () => {
    const keys = fetcher();
    const key = await keys.getKey("origin.test", originKey.keyId);
    assert.equal(key?.publicKey, originKey.publicKeyBase64);
    assert.equal(key?.validUntilTs, T0 + DAY);
    assert.deepEqual(origin.requests, ["/_matrix/key/v2/server"]);
    assert.equal(
      (await keys.getKey("origin.test", originKey.keyId))?.publicKey,
      originKey.publicKeyBase64,
    );
    assert.equal(origin.requests.length, 1, "second lookup served by the store");
  });

  it("caps validity at 7 days", async () => {
    origin.respond = () => ({ body: selfSigned(clock + 365 * DAY) });
    const key = await fetcher().getKey("origin.test", originKey.keyId);
    assert.equal(key?.validUntilTs, T0 + 7 * DAY);
  });

  it("refuses a key server answering for another name", async () => {
    origin.respond = () => ({ body: selfSigned(clock + DAY, "other.test") });
    assert.equal(await fetcher().getKey("origin.test", originKey.keyId), undefined);
    assert.equal(origin.requests.length, 1);
    assert.match(warnings.join("\n"), /wrong_server_name/);
  });

  it("refuses a response not signed by its own verify_keys", async () => {
    const forged = { ...selfSigned(clock + DAY, "origin.test", evilKey) };
    forged.verify_keys = { [originKey.keyId]: { key: originKey.publicKeyBase64 } };
    origin.respond = () => ({ body: forged });
    assert.equal(await fetcher().getKey("origin.test", originKey.keyId), undefined);
    assert.match(warnings.join("\n"), /bad_signature/);
  });

  it("does not accept a key past valid_until_ts for now, only for earlier instants", async () => {
    origin.respond = () => ({ body: selfSigned(T0 - 1000) });
    const keys = fetcher();
    assert.equal(await keys.getKey("origin.test", originKey.keyId), undefined);
    const historical = await fetcher().getKey("origin.test", originKey.keyId, { atTs: T0 - 2000 });
    assert.equal(historical?.publicKey, originKey.publicKeyBase64);
  });

  it("uses old_verify_keys only before expired_ts", async () => {
    const keys = fetcher();
    const before = await keys.getKey("origin.test", oldKey.keyId, { atTs: T0 - DAY - 1 });
    assert.equal(before?.publicKey, oldKey.publicKeyBase64);
    assert.equal(await keys.getKey("origin.test", oldKey.keyId), undefined);
  });

  it("refetches when a stored key expires", async () => {
    const keys = fetcher();
    assert.ok(await keys.getKey("origin.test", originKey.keyId));
    clock = T0 + DAY + 1;
    assert.equal((await keys.getKey("origin.test", originKey.keyId))?.validUntilTs, clock + DAY);
    assert.equal(origin.requests.length, 2);
  });

  it("asks a notary when the origin fails, checking both signatures", async () => {
    origin.respond = () => ({ status: 500, body: {} });
    notary.respond = () => ({
      body: { server_keys: [signJson(selfSigned(clock + DAY), "notary.test", notaryKey)] },
    });
    const key = await withNotary().getKey("origin.test", originKey.keyId);
    assert.equal(key?.publicKey, originKey.publicKeyBase64);
    assert.deepEqual(notary.requests, ["/_matrix/key/v2/query/origin.test"]);
    assert.equal(origin.requests.length, 1);
  });

  it("refuses a notary answer with a bad notary signature", async () => {
    origin.respond = () => ({ status: 500, body: {} });
    const impostor = generateSigningKey(notaryKey.version);
    notary.respond = () => ({
      body: { server_keys: [signJson(selfSigned(clock + DAY), "notary.test", impostor)] },
    });
    assert.equal(await withNotary().getKey("origin.test", originKey.keyId), undefined);
    assert.equal(notary.requests.length, 1);
    assert.match(warnings.join("\n"), /bad_signature/);
  });

  it("refuses a notary answer without the origin's self-signature", async () => {
    origin.respond = () => ({ status: 500, body: {} });
    const relayed = { ...selfSigned(clock + DAY, "origin.test", evilKey) } as Record<
      string,
      unknown
    >;
    delete relayed.signatures;
    notary.respond = () => ({
      body: { server_keys: [signJson(relayed, "notary.test", notaryKey)] },
    });
    assert.equal(await withNotary().getKey("origin.test", originKey.keyId), undefined);
    assert.match(warnings.join("\n"), /no signature of origin\.test/);
  });

  it("does not ask notaries when the origin answered with the key", async () => {
    assert.ok(await withNotary().getKey("origin.test", originKey.keyId));
    assert.equal(notary.requests.length, 0);
  });

  it("shares one fetch between concurrent lookups", async () => {
    const keys = fetcher();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => keys.getKey("origin.test", originKey.keyId)),
    );
    assert.ok(results.every((k) => k?.publicKey === originKey.publicKeyBase64));
    assert.equal(origin.requests.length, 1);
  });

  it("remembers an unknown key briefly", async () => {
    const keys = fetcher({ negativeCacheMs: 60_000 });
    assert.equal(await keys.getKey("origin.test", "ed25519:nope"), undefined);
    assert.equal(await keys.getKey("origin.test", "ed25519:nope"), undefined);
    assert.equal(origin.requests.length, 1);
    clock += 60_001;
    assert.equal(await keys.getKey("origin.test", "ed25519:nope"), undefined);
    assert.equal(origin.requests.length, 2);
  });

  it("refreshes ahead with minimumValidityMs but keeps the stored key if the refresh fails", async () => {
    const keys = fetcher({ minimumValidityMs: 3600_000 });
    assert.ok(await keys.getKey("origin.test", originKey.keyId));
    clock = T0 + DAY - 60_000;
    origin.respond = () => ({ status: 500, body: {} });
    assert.equal((await keys.getKey("origin.test", originKey.keyId))?.validUntilTs, T0 + DAY);
    assert.equal(origin.requests.length, 2);
  });

  it("never fetches for a name that is not a server name", async () => {
    assert.equal(await fetcher().getKey("bad/name", originKey.keyId), undefined);
    assert.equal(origin.requests.length, 0);
  });

  it("refuses bad options", () => {
    assert.throws(() => fetcher({ negativeCacheMs: -1 }), ConfigError);
    assert.throws(() => fetcher({ serverName: "" }), ConfigError);
    assert.throws(
      () => fetcher({ notaries: [{ serverName: "n.test", verifyKeys: {} }] }),
      ConfigError,
    );
  });
});

describe("verifyServerKeys", () => {
  const good = selfSigned(T0 + DAY);
  it("accepts a valid response", () => {
    const { keys, validUntilTs } = verifyServerKeys(good, "origin.test", { now: T0 });
    assert.equal(validUntilTs, T0 + DAY);
    assert.deepEqual(keys.map((k) => k.keyId).sort(), [oldKey.keyId, originKey.keyId].sort());
  });

  it("refuses hostile shapes", () => {
    const bad = (body: unknown, r = "bad_key_response") =>
      assert.throws(
        () => verifyServerKeys(body, "origin.test", { now: T0 }),
        reason(r),
        JSON.stringify(body).slice(0, 80),
      );
    bad(null);
    bad([]);
    bad("x");
    bad({ ...good, server_name: 1 }, "wrong_server_name");
    bad({ ...good, valid_until_ts: "soon" });
    bad({ ...good, valid_until_ts: 1.5 });
    bad({ ...good, verify_keys: [] });
    bad({ ...good, verify_keys: { [originKey.keyId]: { key: 5 } } });
    bad({ ...good, verify_keys: { [originKey.keyId]: { key: "aGk" } } });
    bad({ ...good, verify_keys: { "bad key id": { key: originKey.publicKeyBase64 } } });
    bad({ ...good, old_verify_keys: { [oldKey.keyId]: { key: oldKey.publicKeyBase64 } } });
    const many = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`ed25519:k${i}`, { key: originKey.publicKeyBase64 }]),
    );
    bad({ ...good, verify_keys: many });
    bad({ ...good, signatures: {} }, "bad_signature");
    bad({ ...good, extra: 1.5 });
    bad(
      {
        ...good,
        verify_keys: {
          ...(good.verify_keys as object),
          "ed25519:new": { key: evilKey.publicKeyBase64 },
        },
      },
      "bad_signature",
    );
  });
});
