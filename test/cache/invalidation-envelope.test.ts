// Cache invalidation travels on the versioned envelope of every cross-process message: a
// receiver accepts the messages the previous release sent (byte for byte), ignores a newer
// version with one warning, ignores wake-ups sharing the envelope, and what it sends decodes
// as the old format did, so old and new processes run side by side.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { after, before, describe, it } from "node:test";
import { redisInvalidation, type CacheInvalidation } from "../../src/cache/index.js";
import { decodeMessage, encodeEnvelope } from "../../src/coordination/index.js";
import { eventually } from "../../src/testing/eventually.js";
import { startRedis, type RedisProcess } from "../harness/redis.js";

describe("invalidation on the versioned envelope", () => {
  let redis: RedisProcess;
  let raw: Redis;
  let rawSub: Redis;
  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
    rawSub = new Redis(redis.url);
  });
  after(async () => {
    raw?.disconnect();
    rawSub?.disconnect();
    await redis?.close();
  });

  it("accepts the previous release's messages and ignores unknown versions with a warning", async () => {
    const warnings: Array<{ message: string; details?: Record<string, unknown> }> = [];
    const logger = {
      warn: (message: string, details?: Record<string, unknown>) =>
        void warnings.push({ message, ...(details && { details }) }),
    };
    const bus: CacheInvalidation = redisInvalidation({ url: redis.url, channel: "env", logger });
    const heard: unknown[] = [];
    bus.subscribe((event) => heard.push(event));
    await bus.connect!();
    try {
      // Exactly what the previous release published (its own object literal, field order kept).
      await raw.publish(
        "env",
        JSON.stringify({ v: 1, origin: "old-process", type: "delete", keys: ["blob:a"] }),
      );
      await raw.publish(
        "env",
        JSON.stringify({
          v: 2,
          origin: "newer-process",
          type: "delete",
          keys: ["blob:z"],
          extra: {},
        }),
      );
      await raw.publish("env", encodeEnvelope("remote:example.org/abc"));
      await raw.publish("env", JSON.stringify({ v: 1, origin: "old-process", type: "clear" }));
      await eventually("the clear", 10_000, async () => (heard.length >= 2 ? true : undefined));
      assert.deepEqual(heard, [{ type: "delete", keys: ["blob:a"] }, { type: "clear" }]);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.message, /unknown version/);
      assert.equal(warnings[0]!.details?.version, 2);
    } finally {
      await bus.close();
    }
  });

  it("sends what the previous release's receiver understood", async () => {
    const payloads: string[] = [];
    rawSub.on("message", (_channel: string, message: string) => payloads.push(message));
    await rawSub.subscribe("env2");
    const bus = redisInvalidation({ url: redis.url, channel: "env2", origin: "new-process" });
    await bus.connect!();
    try {
      await bus.publish({ type: "delete", keys: ["blob:b"] });
      await bus.publish({ type: "clear" });
      await eventually("both messages", 10_000, async () =>
        payloads.length >= 2 ? true : undefined,
      );
      // The previous release's receiver: JSON.parse, then v === 1, type and keys.
      const [del, clear] = payloads.map((p) => JSON.parse(p) as Record<string, unknown>);
      assert.deepEqual(del, { v: 1, origin: "new-process", type: "delete", keys: ["blob:b"] });
      assert.deepEqual(clear, { v: 1, origin: "new-process", type: "clear" });
      assert.deepEqual(decodeMessage(payloads[0]!), {
        v: 1,
        type: "delete",
        origin: "new-process",
        keys: ["blob:b"],
      });
    } finally {
      await bus.close();
    }
  });
});
