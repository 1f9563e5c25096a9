// Bad input at start: a Redis shard that refuses AUTH (no password, a wrong one) makes
// startMediaServer reject with an error naming the shard and AUTH, within a bounded wait;
// the right password starts. SIGHUP-style reload names a roles change as needing a restart.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MediaServer, MediaServerConfig } from "../../../src/server/index.js";
import { startRedis, type RedisProcess } from "../../harness/redis.js";
import { tempDir } from "../../harness/tmp.js";
import { ALICE, quiet, resolveConfig, startServer } from "../../server/helpers.js";

/** Settles `promise`, or rejects after `ms` (a generous bound: a hang, not a slow start). */
function bounded<T>(promise: Promise<T>, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

describe("start with a Redis shard that requires a password", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let redis: RedisProcess;
  const servers: MediaServer[] = [];
  const config = (shard: string): MediaServerConfig =>
    resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0 },
        datastores: [{ id: "local", type: "fs", kinds: ["local"], root: "media" }],
        metadata: { embedded: "metadata" },
        cache: { redis: { shards: [shard] } },
        auth: { tokens: { [ALICE]: "@alice:media.test" } },
        thumbnails: { enabled: false },
      },
      {},
      dir.path,
    );

  before(async () => {
    dir = await tempDir("mmk-upgrade-auth-");
    redis = await startRedis({ password: "secret" });
  });
  after(async () => {
    for (const s of servers) await s.close();
    await redis?.close();
    await dir?.cleanup();
  });

  const expectRefused = async (shard: string, shown: string) => {
    const started = bounded(startServer(config(shard), quiet));
    started.then(
      (s) => servers.push(s),
      () => undefined,
    );
    await assert.rejects(started, (err: Error) => {
      assert.doesNotMatch(err.message, /still pending/, "start must not hang");
      assert.match(err.message, /AUTH|NOAUTH|WRONGPASS|password/i);
      assert.ok(err.message.includes(shown), `names the shard ${shown}: ${err.message}`);
      assert.doesNotMatch(err.message, /secret|wrong-pass/, "passwords are never shown");
      return true;
    });
  };

  it("without a password: rejects naming the shard and AUTH", async () => {
    await expectRefused(`redis://127.0.0.1:${redis.port}`, `127.0.0.1:${redis.port}`);
  });

  it("with a wrong password: rejects naming the shard and AUTH", async () => {
    await expectRefused(`redis://:wrong-pass@127.0.0.1:${redis.port}`, `127.0.0.1:${redis.port}`);
  });

  it("with the right password: starts", async () => {
    const server = await bounded(startServer(config(redis.url), quiet));
    servers.push(server);
    const res = await fetch(`${server.url}/readyz`);
    assert.equal(res.status, 200);
  });
});
