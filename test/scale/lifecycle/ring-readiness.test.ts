// A shard removed from the ring and re-added never serves what it held before; reload()
// reports what it applied; /readyz answers 503 naming the metadata store once its
// PostgreSQL database is gone, while /healthz still answers ok.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { redisRingCache } from "../../../src/cache/index.js";
import { ConfigError } from "../../../src/index.js";
import {
  resolveConfig,
  startMediaServer,
  type MediaServerConfig,
  type ServerLogger,
} from "../../../src/server/index.js";
import { createTestDatabase } from "../../harness/postgres.js";
import { startRedisShards, type RedisProcess } from "../../harness/redis.js";

function recordingLogger(): ServerLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (msg: string, fields?: Record<string, unknown>) =>
    void lines.push(`${msg} ${JSON.stringify(fields ?? {})}`);
  return { lines, info: log, warn: log, error: log };
}

describe("Redis ring shard list changes", () => {
  let shards: RedisProcess[];
  before(async () => {
    shards = await startRedisShards(2);
  });
  after(async () => {
    await Promise.all(shards.map((s) => s.close()));
  });

  it("purges a re-added shard: a delete made while it was out is not undone", async () => {
    const [a, b] = shards as [RedisProcess, RedisProcess];
    const ring = redisRingCache({ shards: [a.url], namespace: "readd" });
    try {
      await ring.set("blob:stale", Buffer.from("old bytes"));
      await ring.flush();
      assert.deepEqual(await ring.get("blob:stale"), Buffer.from("old bytes"));
      await ring.setShards([b.url]);
      // The delete reaches only the shards in the ring: a keeps its copy.
      await ring.delete("blob:stale");
      await ring.setShards([a.url]);
      assert.equal(await ring.get("blob:stale"), undefined);
      await ring.set("blob:fresh", Buffer.from("new bytes"));
      await ring.flush();
      assert.deepEqual(await ring.get("blob:fresh"), Buffer.from("new bytes"));
    } finally {
      await ring.close();
    }
  });

  it("keeps the entries of a shard that stays in the list", async () => {
    const [a, b] = shards as [RedisProcess, RedisProcess];
    const ring = redisRingCache({ shards: [a.url], namespace: "kept" });
    try {
      await ring.set("blob:kept", Buffer.from("bytes"));
      await ring.flush();
      await ring.setShards([a.url, b.url]);
      await ring.setShards([a.url]);
      assert.deepEqual(await ring.get("blob:kept"), Buffer.from("bytes"));
    } finally {
      await ring.close();
    }
  });
});

describe("MediaServer.reload and /readyz", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "mmk-lifecycle-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const config = (raw: Record<string, unknown> = {}): MediaServerConfig =>
    resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0 },
        machineId: 2,
        auth: { tokens: { t: "@t:media.test" } },
        thumbnails: { enabled: false },
        ...raw,
      },
      { baseDir: dir },
    );

  it("applies the rate limit, names restart keys, and keeps the config a refused load left", async () => {
    let next: () => MediaServerConfig = () => config();
    const logger = recordingLogger();
    const server = await startMediaServer(config(), { logger, loadConfig: () => next() });
    try {
      next = () =>
        config({
          limits: { rateLimit: { ratePerSecond: 1, burst: 1 } },
          previews: { enabled: true },
        });
      const result = await server.reload();
      assert.deepEqual(result.applied.sort(), [
        "limits.rateLimit.burst",
        "limits.rateLimit.ratePerSecond",
      ]);
      assert.deepEqual(result.restartNeeded, ["previews.enabled"]);
      // burst 1: the second request in a row is throttled.
      const ask = () =>
        fetch(`${server.url}/_matrix/client/v1/media/config`, {
          headers: { authorization: "Bearer t" },
        });
      assert.equal((await ask()).status, 200);
      assert.equal((await ask()).status, 429);

      next = () => {
        throw new ConfigError("Expected a boolean for previews.enabled", {
          option: "previews.enabled",
        });
      };
      await assert.rejects(server.reload(), ConfigError);
      assert.equal(logger.lines.filter((l) => l.startsWith("config reload refused")).length, 1);
      // Same file again: the previews change still needs a restart, nothing else changed.
      next = () =>
        config({
          limits: { rateLimit: { ratePerSecond: 1, burst: 1 } },
          previews: { enabled: true },
        });
      assert.deepEqual(await server.reload(), {
        applied: [],
        restartNeeded: ["previews.enabled"],
      });
    } finally {
      await server.close();
    }
  });

  it("answers /readyz 503 naming the metadata store once its database is dropped", async () => {
    const db = await createTestDatabase();
    const server = await startMediaServer(config({ metadata: { postgres: db.url } }), {
      logger: recordingLogger(),
    });
    try {
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { ready: true, failed: [] });
      await db.drop(); // WITH (FORCE): the server's connections are terminated too
      const deadline = Date.now() + 30_000;
      let answer: { status: number; body: { failed: Array<{ check: string }> } };
      do {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const res = await fetch(`${server.url}/readyz`);
        answer = { status: res.status, body: (await res.json()) as typeof answer.body };
      } while (answer.status === 200 && Date.now() < deadline);
      assert.equal(answer.status, 503);
      assert.deepEqual(
        answer.body.failed.map((f) => f.check),
        ["metadata"],
      );
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), "ok");
    } finally {
      await server.close();
      await db.drop();
    }
  });
});
