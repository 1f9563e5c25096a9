import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  FederationError,
  canonicalJson,
  formatXMatrix,
  generateSigningKey,
  parseAuthorizationHeaders,
  parseXMatrix,
  signRequest,
  verifyJsonSignature,
} from "../../../src/federation/index.js";

const expected = {
  origin: "a.org",
  destination: "b.org",
  keyId: "ed25519:k1",
  signature: "c2ln+/",
};
const badHeader = (err: unknown) => FederationError.is(err) && err.reason === "bad_header";

describe("X-Matrix", () => {
  it("formats and parses back", () => {
    const value = formatXMatrix(expected);
    assert.equal(
      value,
      'X-Matrix origin="a.org",destination="b.org",key="ed25519:k1",sig="c2ln+/"',
    );
    assert.deepEqual(parseXMatrix(value), expected);
    const odd = { ...expected, origin: 'we"ird\\' };
    assert.deepEqual(parseXMatrix(formatXMatrix(odd)), odd);
  });

  it("accepts every form the spec allows", () => {
    const forms = [
      'X-Matrix origin="a.org",destination="b.org",key="ed25519:k1",sig="c2ln+/"',
      "X-Matrix origin=a.org,destination=b.org,key=ed25519:k1,sig=c2ln+/",
      'x-matrix ORIGIN="a.org", Destination = "b.org" ,\tkey="ed25519:k1",   sig=c2ln+/',
      'X-MATRIX   sig="c2ln+/",key="ed25519:k1",origin="a.org",destination="b.org"',
      'X-Matrix origin="a\\.org",destination="b.org",key="ed25519:k1",sig="c2ln+/",extra="x, y=z",more=1',
      '  X-Matrix origin="a.org",destination="b.org",key="ed25519:k1",sig="c2ln+/",  ',
    ];
    for (const form of forms) assert.deepEqual(parseXMatrix(form), expected, form);
  });

  it("accepts a credential without destination and unquoted ports and IPv6", () => {
    assert.deepEqual(parseXMatrix("X-Matrix origin=[::1]:8448,key=ed25519:k1,sig=c2ln"), {
      origin: "[::1]:8448",
      destination: undefined,
      keyId: "ed25519:k1",
      signature: "c2ln",
    });
  });

  it("refuses garbage with a typed error", () => {
    const garbage = [
      "",
      "X-Matrix",
      "X-Matrix ",
      "Bearer abc",
      "X-Matrixorigin=a.org",
      'X-Matrix origin="a.org",key="ed25519:k1"',
      'X-Matrix origin="a.org",key="ed25519:k1",sig=""',
      'X-Matrix origin="a.org" key="ed25519:k1" sig="x"',
      'X-Matrix origin="a.org,key="ed25519:k1",sig="x"',
      'X-Matrix origin="a.org",origin="c.org",key="ed25519:k1",sig="x"',
      'X-Matrix origin="a.org",ORIGIN="a.org",key="ed25519:k1",sig="x"',
      'X-Matrix origin=,key="ed25519:k1",sig="x"',
      'X-Matrix origin="a.org",key="ed25519:k1",sig="x",destination=""',
      'X-Matrix =a,origin="a.org",key="ed25519:k1",sig="x"',
      'X-Matrix origin="a.org",key="ed25519:k1",sig="x\\',
      "\u0000\u0001",
      `X-Matrix origin="${"a".repeat(20_000)}",key="ed25519:k1",sig="x"`,
    ];
    for (const value of garbage)
      assert.throws(() => parseXMatrix(value), badHeader, JSON.stringify(value.slice(0, 60)));
  });

  it("finds every credential in arrays and comma-joined headers, skipping other schemes", () => {
    const one = formatXMatrix(expected);
    const two = formatXMatrix({ ...expected, keyId: "ed25519:k2" });
    assert.deepEqual(parseAuthorizationHeaders(undefined), []);
    assert.deepEqual(parseAuthorizationHeaders([]), []);
    assert.deepEqual(parseAuthorizationHeaders("Bearer abc.def=="), []);
    assert.deepEqual(
      parseAuthorizationHeaders([one, two]).map((a) => a.keyId),
      ["ed25519:k1", "ed25519:k2"],
    );
    assert.deepEqual(
      parseAuthorizationHeaders(`${one}, ${two}`).map((a) => a.keyId),
      ["ed25519:k1", "ed25519:k2"],
    );
    assert.deepEqual(
      parseAuthorizationHeaders(`${one},${two}`).map((a) => a.keyId),
      ["ed25519:k1", "ed25519:k2"],
    );
    const unquoted =
      "X-Matrix origin=a.org,key=ed25519:k3,sig=abc=, X-Matrix origin=a.org,key=ed25519:k4,sig=x";
    assert.deepEqual(
      parseAuthorizationHeaders(unquoted).map((a) => [a.keyId, a.signature]),
      [
        ["ed25519:k3", "abc="],
        ["ed25519:k4", "x"],
      ],
    );
    const mixed = `Bearer tok, Basic realm="a, b", charset=x, ${one}, Basic abc=, ${two}`;
    assert.deepEqual(
      parseAuthorizationHeaders(mixed).map((a) => a.keyId),
      ["ed25519:k1", "ed25519:k2"],
    );
    assert.deepEqual(
      parseAuthorizationHeaders(["Bearer x", one]).map((a) => a.keyId),
      ["ed25519:k1"],
    );
  });

  it("refuses a list with a malformed or too many X-Matrix credentials", () => {
    const one = formatXMatrix(expected);
    assert.throws(() => parseAuthorizationHeaders([one, "X-Matrix origin=a.org"]), badHeader);
    assert.throws(() => parseAuthorizationHeaders(Array(9).fill(one)), badHeader);
    assert.throws(() => parseXMatrix(`${one}, ${one}`), badHeader);
  });

  it("signs the request JSON the spec describes", () => {
    const key = generateSigningKey("s");
    const content = { b: [1, 2], a: "é" };
    const header = signRequest(key, {
      method: "POST",
      uri: "/_matrix/x?y=1",
      origin: "a.org",
      destination: "b.org",
      content,
    });
    const auth = parseXMatrix(header);
    assert.equal(auth.keyId, "ed25519:s");
    const json = {
      method: "POST",
      uri: "/_matrix/x?y=1",
      origin: "a.org",
      destination: "b.org",
      content,
      signatures: { "a.org": { "ed25519:s": auth.signature } },
    };
    assert.ok(verifyJsonSignature(json, "a.org", "ed25519:s", key.publicKeyBase64));
    assert.ok(
      !verifyJsonSignature(
        { ...json, uri: "/_matrix/x?y=2" },
        "a.org",
        "ed25519:s",
        key.publicKeyBase64,
      ),
    );
    assert.ok(canonicalJson(json).includes('"content":{"a":"é","b":[1,2]}'));
  });
});
