// The conformance suite against real redis-server processes: one server (a with an injected
// client whose connection the "killed" holder loses, b built from a URL) and two shards.
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { redisCoordinator } from "../../src/coordination/index.js";
import { describeCoordinator } from "../../src/testing/index.js";
import { startRedis, startRedisShards, type RedisProcess } from "../harness/redis.js";

describe("redisCoordinator", () => {
  let server: RedisProcess;
  let shards: RedisProcess[];
  before(async () => {
    [server, shards] = await Promise.all([startRedis(), startRedisShards(2)]);
  });
  after(async () => {
    await Promise.all([server, ...shards].map((s) => s.close()));
  });

  describeCoordinator("redisCoordinator (one server)", async () => {
    const namespace = `test:${randomUUID()}`;
    const client = new Redis(server.url, { lazyConnect: true });
    client.on("error", () => undefined);
    await client.connect();
    const raw = new Redis(server.url);
    raw.on("error", () => undefined);
    const a = redisCoordinator({ redis: client, namespace });
    const b = redisCoordinator({ url: server.url, namespace });
    return {
      a,
      b,
      killA: async () => {
        // The holder's connection is gone for good: no renewal, no release.
        client.disconnect(false);
      },
      publishRaw: async (_topic, payload) => void (await raw.publish(`${namespace}:wake`, payload)),
      cleanup: async () => {
        await Promise.all([a.close(), b.close()]);
        client.disconnect();
        raw.disconnect();
      },
    };
  });

  describeCoordinator(
    "redisCoordinator (two shards)",
    async () => {
      const namespace = `test:${randomUUID()}`;
      const urls = shards.map((s) => s.url);
      const raws = urls.map((url) => new Redis(url));
      for (const r of raws) r.on("error", () => undefined);
      const a = redisCoordinator({ shards: urls, namespace });
      const b = redisCoordinator({ shards: [...urls].reverse(), namespace });
      return {
        a,
        b,
        publishRaw: async (_topic, payload) => {
          await Promise.all(raws.map((r) => r.publish(`${namespace}:wake`, payload)));
        },
        cleanup: async () => {
          await Promise.all([a.close(), b.close()]);
          for (const r of raws) r.disconnect();
        },
      };
    },
    {
      skip: {
        "expiry after holder death":
          "covered by the one-server variant (its holder's injected connection can be cut)",
      },
    },
  );
});

describe("redisCoordinator options", () => {
  it("refuses bad options with the option's name", () => {
    assert.throws(() => redisCoordinator({}), /exactly one of url, redis/);
    assert.throws(
      () => redisCoordinator({ url: "redis://a", shards: ["redis://b"] }),
      /exactly one/,
    );
    assert.throws(() => redisCoordinator({ url: "http://x" }), /redis:\/\//);
    assert.throws(() => redisCoordinator({ shards: [] }), /shards/);
    assert.throws(() => redisCoordinator({ shards: ["redis://a:1", "redis://a:1"] }), /distinct/);
    assert.throws(
      () => redisCoordinator({ url: "redis://a", namespace: "has space" }),
      /namespace/,
    );
    assert.throws(
      () => redisCoordinator({ url: "redis://a", commandTimeoutMs: 1.5 }),
      /commandTimeoutMs/,
    );
  });
});
