import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createMediaIdGenerator,
  isValidMediaId,
  isValidServerName,
  MEDIA_ID_LENGTH,
  parseMachineId,
  Snowflake,
} from "../../src/ids/index.js";
import { formatMxc, parseMxc } from "../../src/mxc.js";

describe("parseMachineId", () => {
  it("accepts integer strings 0–1023", () => {
    assert.equal(parseMachineId("0"), 0);
    assert.equal(parseMachineId("7"), 7);
    assert.equal(parseMachineId("1023"), 1023);
    assert.equal(parseMachineId(12), 12);
  });
  for (const bad of [
    "abc",
    "",
    " 7",
    "7 ",
    "1024",
    "-1",
    "1.5",
    "1e3",
    "0x10",
    "+5",
    "٣",
    undefined,
  ]) {
    it(`rejects ${JSON.stringify(bad)} naming MACHINE_ID`, () => {
      assert.throws(
        () => parseMachineId(bad),
        (err: unknown) => {
          assert.ok(err instanceof RangeError);
          assert.match(err.message, /MACHINE_ID/);
          return true;
        },
      );
    });
  }
  it("rejects out-of-range numbers", () => {
    for (const n of [-1, 1024, 1.5, Number.NaN]) assert.throws(() => parseMachineId(n), RangeError);
  });
});

describe("media IDs", () => {
  it("are fixed-length base64url, unique, and carry the Snowflake", () => {
    const gen = createMediaIdGenerator({ machineId: 42 });
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const id = gen.next();
      assert.equal(id.length, MEDIA_ID_LENGTH);
      assert.ok(isValidMediaId(id));
      seen.add(id);
    }
    assert.equal(seen.size, 100_000);
    const last = [...seen].at(-1)!;
    const snowflake = Buffer.from(last, "base64url").readBigUInt64BE(0);
    assert.equal(Snowflake.deconstruct(snowflake).machineId, 42);
  });

  it("carry 128 random bits: the random part differs even for equal Snowflakes", () => {
    const at = () => 1_800_000_000_000;
    const a = createMediaIdGenerator({ snowflake: new Snowflake({ machineId: 1, now: at }) });
    const b = createMediaIdGenerator({ snowflake: new Snowflake({ machineId: 1, now: at }) });
    const x = Buffer.from(a.next(), "base64url");
    const y = Buffer.from(b.next(), "base64url");
    assert.deepEqual(x.subarray(0, 8), y.subarray(0, 8), "same time, machine and sequence");
    assert.notDeepEqual(x.subarray(8), y.subarray(8));
    assert.equal(x.length - 8, 16);
  });

  it("draw randomness in batches from the injected source", () => {
    let calls = 0;
    const gen = createMediaIdGenerator({
      machineId: 1,
      randomFill: (buf) => {
        calls++;
        buf.fill(calls);
      },
    });
    for (let i = 0; i < 512; i++) gen.next();
    assert.equal(calls, 2);
  });
});

describe("validators", () => {
  it("media IDs: only [A-Za-z0-9_-], 1–255 characters", () => {
    for (const ok of ["a", "AbC_12-x", "x".repeat(255)]) assert.ok(isValidMediaId(ok), ok);
    for (const bad of [
      "",
      "..",
      "../etc",
      "%2e%2e",
      "a/b",
      "a\\b",
      "a\0b",
      "a b",
      "é",
      "x".repeat(256),
      "a.png",
    ]) {
      assert.ok(!isValidMediaId(bad), JSON.stringify(bad));
    }
  });

  it("server names: DNS name, IPv4, [IPv6], optional port", () => {
    for (const ok of [
      "matrix.org",
      "localhost",
      "localhost:8448",
      "1.2.3.4",
      "1.2.3.4:80",
      "[::1]",
      "[2001:db8::1]:8448",
      "a-b.example.com",
    ]) {
      assert.ok(isValidServerName(ok), ok);
    }
    for (const bad of [
      "",
      "..",
      "a..b",
      ".matrix.org",
      "matrix.org/..",
      "%2e%2e",
      "a\0b",
      "[::1",
      "::1",
      "host:0",
      "host:65536",
      "host:",
      "a b",
      "[::g]",
      "x".repeat(300),
      "évil.org",
      "a\\b",
    ]) {
      assert.ok(!isValidServerName(bad), JSON.stringify(bad));
    }
  });

  it("mxc URIs parse and format through the same validators", () => {
    assert.deepEqual(parseMxc("mxc://example.org:8448/abc_-1"), {
      origin: "example.org:8448",
      mediaId: "abc_-1",
    });
    assert.equal(formatMxc({ origin: "[::1]", mediaId: "x" }), "mxc://[::1]/x");
    for (const bad of ["mxc://a/b/c", "http://a/b", "mxc://a/../b", "mxc:///b", "mxc://a/"]) {
      assert.throws(() => parseMxc(bad), /Invalid mxc URI/);
    }
  });
});
