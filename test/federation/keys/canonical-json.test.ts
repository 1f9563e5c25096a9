import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalJson, decodeBase64, encodeBase64 } from "../../../src/federation/index.js";

describe("canonicalJson", () => {
  // The cases the spec's Canonical JSON appendix describes.
  const vectors: Array<[unknown, string]> = [
    [{}, "{}"],
    [{ one: 1, two: "Two" }, '{"one":1,"two":"Two"}'],
    [{ b: "2", a: "1" }, '{"a":"1","b":"2"}'],
    [
      {
        auth: {
          success: true,
          mxid: "@john.doe:example.com",
          profile: {
            display_name: "John Doe",
            three_pids: [
              { medium: "email", address: "john.doe@example.org" },
              { medium: "msisdn", address: "123456789" },
            ],
          },
        },
      },
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":' +
        '[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    [{ a: "日本語" }, '{"a":"日本語"}'],
    [{ 本: 2, 日: 1 }, '{"日":1,"本":2}'],
    [JSON.parse('{"a": "\\u65E5"}'), '{"a":"日"}'],
    [{ a: null }, '{"a":null}'],
    [JSON.parse('{"a": -0, "b": 1e10}'), '{"a":0,"b":10000000000}'],
  ];
  for (const [input, expected] of vectors) {
    it(`encodes ${expected}`, () => assert.equal(canonicalJson(input), expected));
  }

  it("escapes only what JSON requires", () => {
    assert.equal(
      canonicalJson({ s: 'q"b\\\n\t\u0001é\u2028/' }),
      '{"s":"q\\"b\\\\\\n\\t\\u0001é\u2028/"}',
    );
  });

  it("sorts keys by code point, not UTF-16 unit", () => {
    // U+FF5E (BMP, above the surrogate range) sorts before U+1F600 (astral).
    const astral = "\u{1F600}";
    assert.equal(canonicalJson({ [astral]: 1, "\uff5e": 2 }), `{"\uff5e":2,"${astral}":1}`);
    assert.equal(canonicalJson({ b: 1, a: 2, A: 3, aa: 4 }), '{"A":3,"a":2,"aa":4,"b":1}');
  });

  it("accepts the exact integer range and nothing beyond", () => {
    assert.equal(
      canonicalJson([2 ** 53 - 1, -(2 ** 53 - 1)]),
      "[9007199254740991,-9007199254740991]",
    );
    for (const bad of [2 ** 53, -(2 ** 53), 1.5, NaN, Infinity, -Infinity]) {
      assert.throws(() => canonicalJson({ n: bad }), TypeError, String(bad));
    }
  });

  it("refuses what JSON cannot hold", () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const bad of [
      undefined,
      () => 1,
      Symbol("s"),
      1n,
      new Date(0),
      Buffer.from("x"),
      circular,
    ]) {
      assert.throws(() => canonicalJson({ v: bad }), TypeError);
    }
    assert.throws(() => canonicalJson([undefined]), TypeError);
    assert.throws(() => canonicalJson(undefined), TypeError);
  });

  it("allows shared (non-circular) references", () => {
    const shared = { x: 1 };
    assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
  });
});

describe("base64", () => {
  it("encodes unpadded standard base64", () => {
    assert.equal(encodeBase64(Buffer.from("")), "");
    assert.equal(encodeBase64(Buffer.from("h")), "aA");
    assert.equal(encodeBase64(Buffer.from("hi")), "aGk");
    assert.equal(encodeBase64(Buffer.from("hi!")), "aGkh");
    assert.equal(encodeBase64(Buffer.from([0xfb, 0xff])), "+/8");
    assert.equal(encodeBase64(new Uint8Array(Buffer.from("xhi").buffer, 0, 0)), "");
  });

  it("decodes padded, unpadded and URL-safe", () => {
    assert.deepEqual(decodeBase64("aGk"), Buffer.from("hi"));
    assert.deepEqual(decodeBase64("aGk="), Buffer.from("hi"));
    assert.deepEqual(decodeBase64("aA=="), Buffer.from("h"));
    assert.deepEqual(decodeBase64("-_8"), Buffer.from([0xfb, 0xff]));
    assert.deepEqual(decodeBase64("+/8="), Buffer.from([0xfb, 0xff]));
  });

  it("refuses what is not base64", () => {
    for (const bad of ["a", "aGk!", "a Gk", "aGk===", "aG=k", "aGk=="]) {
      assert.equal(decodeBase64(bad), undefined, bad);
    }
  });
});
