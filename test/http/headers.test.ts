// Header formatting checked against the standard parser (content-disposition) and RFC 7233.
/* eslint-disable no-control-regex -- the tests look for control characters on purpose */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import contentDispositionLib from "content-disposition";
import {
  contentDisposition,
  isInlineType,
  parseRange,
  servedContentType,
} from "../../src/http/index.js";

describe("contentDisposition", () => {
  it("round-trips printable, spaced, quoted and non-ASCII names through a standard parser", () => {
    const names = [
      "ascii",
      "name with spaces",
      "name;with;semicolons",
      "☕",
      "🐔",
      'a"b',
      "back\\slash",
      "tab\there",
      "100% real.png",
      "équipe été.txt",
      "日本語.pdf",
      "a'b",
      "=?utf-8?q?x?=",
    ];
    for (const name of names) {
      for (const type of ["inline", "attachment"] as const) {
        const header = contentDisposition(type, name);
        assert.doesNotMatch(header, /[\r\n\u0000]/);
        const parsed = contentDispositionLib.parse(header);
        assert.equal(parsed.type, type);
        assert.equal(parsed.parameters.filename, name.replace(/[\r\n]/g, ""), header);
      }
    }
  });

  it("never lets CR/LF or other control characters into the header", () => {
    for (const name of ["a\r\nSet-Cookie: x", "a\u0000b", "\u0007bell", "x\u007f"]) {
      const header = contentDisposition("attachment", name);
      assert.doesNotMatch(header, /[\u0000-\u0008\u000a-\u001f\u007f]/, JSON.stringify(header));
      contentDispositionLib.parse(header);
    }
    assert.equal(contentDisposition("inline", null), "inline");
    assert.equal(contentDisposition("attachment", ""), "attachment");
  });
});

describe("content types", () => {
  it("keeps the uploaded type, adds a charset to text/*, falls back to octet-stream", () => {
    assert.equal(servedContentType("img/png"), "img/png");
    assert.equal(servedContentType("text/plain"), "text/plain; charset=utf-8");
    assert.equal(servedContentType("text/plain; charset=latin1"), "text/plain; charset=latin1");
    assert.equal(servedContentType(undefined), "application/octet-stream");
    assert.equal(servedContentType("text/html\r\nX-Evil: 1"), "application/octet-stream");
  });

  it("allows inline only for the spec's list", () => {
    assert.ok(isInlineType("image/png"));
    assert.ok(isInlineType("TEXT/PLAIN; charset=utf-8"));
    assert.ok(!isInlineType("image/svg+xml"));
    assert.ok(!isInlineType("text/html"));
    assert.ok(!isInlineType("application/javascript"));
  });
});

describe("parseRange", () => {
  it("honours one range, ignores several or malformed ones, and reports unsatisfiable ones", () => {
    assert.deepEqual(parseRange("bytes=0-9", 100), { kind: "range", start: 0, end: 9 });
    assert.deepEqual(parseRange("bytes=90-", 100), { kind: "range", start: 90, end: 99 });
    assert.deepEqual(parseRange("bytes=-10", 100), { kind: "range", start: 90, end: 99 });
    assert.deepEqual(parseRange("bytes=-1000", 100), { kind: "range", start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=50-5000", 100), { kind: "range", start: 50, end: 99 });
    assert.deepEqual(parseRange("bytes=100-", 100), { kind: "unsatisfiable" });
    assert.deepEqual(parseRange("bytes=-0", 100), { kind: "unsatisfiable" });
    assert.deepEqual(parseRange("bytes=0-1,2-3", 100), { kind: "none" });
    assert.deepEqual(parseRange("bytes=9-1", 100), { kind: "none" });
    assert.deepEqual(parseRange("items=0-1", 100), { kind: "none" });
    assert.deepEqual(parseRange(undefined, 100), { kind: "none" });
    assert.deepEqual(parseRange(`bytes=${"0-99,".repeat(200)}0-99`, 100), { kind: "none" });
  });
});
