import assert from "node:assert/strict";
import {
  createPrivateKey,
  createPublicKey,
  sign as rawSign,
  verify as rawVerify,
} from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import {
  FederationError,
  canonicalJson,
  formatSigningKey,
  generateSigningKey,
  loadSigningKey,
  parseSigningKey,
  signJson,
  signingKeyFromSeed,
  verifyJsonSignature,
} from "../../../src/federation/index.js";

// The signing example of the spec's appendix: this seed, key ID ed25519:1.
const SPEC_SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";
const SPEC_PUBLIC = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI";

const badKeyFile = (pattern: RegExp) => (err: unknown) =>
  FederationError.is(err) && err.reason === "bad_key_file" && pattern.test(err.message);

describe("signing keys", () => {
  it("reads Synapse's key file format and derives the public key", () => {
    const key = parseSigningKey(`ed25519 1 ${SPEC_SEED}\n`);
    assert.equal(key.keyId, "ed25519:1");
    assert.equal(key.version, "1");
    assert.equal(key.publicKeyBase64, SPEC_PUBLIC);
  });

  it("uses the first key, skipping blank lines, and accepts padded seeds", () => {
    const other = generateSigningKey("a_2");
    const key = parseSigningKey(`\n  \ned25519 a_1 ${SPEC_SEED}=\r\n${formatSigningKey(other)}`);
    assert.equal(key.keyId, "ed25519:a_1");
    assert.equal(key.publicKeyBase64, SPEC_PUBLIC);
  });

  it("names the line at fault", () => {
    assert.throws(() => parseSigningKey(""), badKeyFile(/empty/));
    assert.throws(() => parseSigningKey("\ned25519 a_1\n"), badKeyFile(/line 2: expected/));
    assert.throws(
      () => parseSigningKey(`rsa a_1 ${SPEC_SEED}`),
      badKeyFile(/line 1: only ed25519/),
    );
    assert.throws(
      () => parseSigningKey(`ed25519 a-1 ${SPEC_SEED}`),
      badKeyFile(/line 1: a key version/),
    );
    assert.throws(() => parseSigningKey("ed25519 a_1 !!!!"), badKeyFile(/line 1: .*not Base64/));
    assert.throws(() => parseSigningKey("ed25519 a_1 aGk"), badKeyFile(/line 1: .*decodes to 2/));
  });

  it("round-trips through formatSigningKey and a file", async () => {
    const key = generateSigningKey();
    assert.match(key.version, /^a_[A-Za-z0-9_]{4}$/);
    const text = formatSigningKey(key);
    assert.match(text, /^ed25519 a_[A-Za-z0-9_]{4} [A-Za-z0-9+/]{43}\n$/);
    const dir = await mkdtemp(path.join(os.tmpdir(), "mmk-fedkeys-"));
    try {
      await writeFile(path.join(dir, "signing.key"), text);
      const loaded = await loadSigningKey(path.join(dir, "signing.key"));
      assert.equal(loaded.publicKeyBase64, key.publicKeyBase64);
      assert.equal(formatSigningKey(loaded), text);
      await writeFile(path.join(dir, "bad.key"), "ed25519\n");
      await assert.rejects(
        loadSigningKey(path.join(dir, "bad.key")),
        badKeyFile(/bad\.key: .*line 1/),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a seed that is not 32 bytes", () => {
    assert.throws(() => signingKeyFromSeed(Buffer.alloc(31), "a"), badKeyFile(/32 bytes/));
  });
});

describe("signed JSON", () => {
  const key = parseSigningKey(`ed25519 1 ${SPEC_SEED}`);

  it("matches the spec's signing examples", () => {
    assert.deepEqual(signJson({}, "domain", key).signatures, {
      domain: {
        "ed25519:1":
          "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ",
      },
    });
    assert.deepEqual(signJson({ one: 1, two: "Two" }, "domain", key).signatures, {
      domain: {
        "ed25519:1":
          "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw",
      },
    });
  });

  it("equals a signature computed with raw node:crypto over the canonical bytes", () => {
    const object = {
      server_name: "a.org",
      valid_until_ts: 1_700_000_000_000,
      nested: { z: [1, "é"], a: null },
    };
    const seed = Buffer.alloc(32, 7);
    const ours = signingKeyFromSeed(seed, "kat");
    const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
    const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    const bytes = Buffer.from(
      '{"nested":{"a":null,"z":[1,"é"]},"server_name":"a.org","valid_until_ts":1700000000000}',
    );
    const expected = rawSign(null, bytes, privateKey).toString("base64").replace(/=+$/, "");
    const signed = signJson(object, "a.org", ours);
    assert.equal(signed.signatures["a.org"]!["ed25519:kat"], expected);
    const publicKey = createPublicKey(privateKey);
    assert.ok(rawVerify(null, bytes, publicKey, Buffer.from(expected, "base64")));
  });

  it("ignores signatures and unsigned, keeps and adds to existing signatures", () => {
    const other = generateSigningKey("b");
    const first = signJson({ a: 1, unsigned: { age: 5 } }, "one.org", key);
    const both = signJson(first, "two.org", other);
    const again = signJson(both, "one.org", other);
    assert.deepEqual(both.unsigned, { age: 5 });
    assert.deepEqual(Object.keys(again.signatures).sort(), ["one.org", "two.org"]);
    assert.deepEqual(Object.keys(again.signatures["one.org"]!).sort(), ["ed25519:1", "ed25519:b"]);
    const changedUnsigned = { ...again, unsigned: { age: 99 } };
    assert.ok(verifyJsonSignature(changedUnsigned, "one.org", "ed25519:1", key.publicKeyBase64));
    assert.ok(verifyJsonSignature(changedUnsigned, "two.org", "ed25519:b", other.publicKey));
    assert.ok(verifyJsonSignature(again, "one.org", "ed25519:b", other.publicKeyBase64));
    assert.equal(
      canonicalJson(first.signatures),
      canonicalJson(signJson({ a: 1 }, "one.org", key).signatures),
    );
  });

  it("refuses tampering, other keys and malformed signatures", () => {
    const signed = signJson({ a: 1 }, "one.org", key);
    const other = generateSigningKey("x");
    assert.equal(
      verifyJsonSignature({ ...signed, a: 2 }, "one.org", "ed25519:1", key.publicKeyBase64),
      false,
    );
    assert.equal(verifyJsonSignature(signed, "one.org", "ed25519:1", other.publicKeyBase64), false);
    assert.equal(verifyJsonSignature(signed, "two.org", "ed25519:1", key.publicKeyBase64), false);
    assert.equal(verifyJsonSignature(signed, "one.org", "ed25519:2", key.publicKeyBase64), false);
    assert.equal(verifyJsonSignature(signed, "one.org", "ed25519:1", "not a key"), false);
    assert.equal(verifyJsonSignature(signed, "one.org", "ed25519:1", "aGk"), false);
    const garbled = { a: 1, signatures: { "one.org": { "ed25519:1": "AAAA" } } };
    assert.equal(verifyJsonSignature(garbled, "one.org", "ed25519:1", key.publicKeyBase64), false);
    assert.equal(
      verifyJsonSignature({ a: 1, signatures: "x" }, "one.org", "ed25519:1", key.publicKeyBase64),
      false,
    );
    assert.equal(verifyJsonSignature({ a: 1 }, "one.org", "ed25519:1", key.publicKeyBase64), false);
  });
});
