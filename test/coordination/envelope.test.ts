import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeEnvelope, encodeEnvelope } from "../../src/coordination/index.js";

function recorder() {
  const warnings: string[] = [];
  const debugs: string[] = [];
  return {
    warnings,
    debugs,
    logger: { warn: (m: string) => warnings.push(m), debug: (m: string) => debugs.push(m) },
  };
}

describe("wake-up envelope", () => {
  it("round-trips a topic, unicode included", () => {
    const topic = 'remote:example.org/ä😀"quote';
    const raw = encodeEnvelope(topic);
    assert.deepEqual(JSON.parse(raw), { v: 1, type: "wake", topic });
    assert.deepEqual(decodeEnvelope(raw), { v: 1, type: "wake", topic });
    assert.deepEqual(decodeEnvelope(Buffer.from(raw)), { v: 1, type: "wake", topic });
  });

  it("ignores other versions with a warning (rolling upgrades)", () => {
    const r = recorder();
    assert.equal(decodeEnvelope('{"v":2,"type":"wake","topic":"t"}', r.logger), undefined);
    assert.equal(decodeEnvelope('{"type":"wake","topic":"t"}', r.logger), undefined);
    assert.equal(r.warnings.length, 2);
    assert.match(r.warnings[0]!, /unknown version/);
  });

  it("refuses garbage without throwing", () => {
    const r = recorder();
    for (const raw of [
      "",
      "not json",
      "null",
      "[1]",
      "42",
      '{"v":1}',
      '{"v":1,"type":"wake","topic":""}',
      '{"v":1,"type":"x","topic":"t"}',
    ])
      assert.equal(decodeEnvelope(raw, r.logger), undefined, raw);
    assert.equal(r.warnings.length, 0, "garbage is not a version problem");
    assert.ok(r.debugs.length >= 8);
    assert.equal(decodeEnvelope("{", undefined), undefined, "no logger is fine");
  });
});

describe("one envelope for wake-ups and cache invalidation", () => {
  it("decodes both, and decodeEnvelope keeps only wake-ups", async () => {
    const { decodeMessage, encodeInvalidation } = await import("../../src/coordination/index.js");
    const del = encodeInvalidation("p", { type: "delete", keys: ["k"] });
    assert.deepEqual(decodeMessage(del), { v: 1, type: "delete", origin: "p", keys: ["k"] });
    assert.deepEqual(decodeMessage(encodeInvalidation("p", { type: "clear" })), {
      v: 1,
      type: "clear",
      origin: "p",
    });
    assert.deepEqual(decodeMessage(encodeEnvelope("t")), { v: 1, type: "wake", topic: "t" });
    assert.equal(decodeEnvelope(del), undefined);
    const r = recorder();
    for (const bad of [
      '{"v":1,"type":"delete","origin":"p","keys":[1]}',
      '{"v":1,"type":"clear"}',
    ]) {
      assert.equal(decodeMessage(bad, r.logger), undefined);
    }
    assert.equal(decodeMessage('{"v":3,"type":"clear","origin":"p"}', r.logger), undefined);
    assert.deepEqual([r.warnings.length, r.debugs.length], [1, 2]);
  });
});
