// SIGHUP reloads the config of a running `serve`: a broken file is refused with one error
// line and the server keeps serving on its old config; auth and limits changes apply at once;
// other changed keys are named as needing a restart; a new Redis shard list is used at once.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { after, before, describe, it } from "node:test";
import { startRedisShards, type RedisProcess } from "../../harness/redis.js";
import { ALICE, baseConfig, notBuilt, startIn, stopChild, tempConfig, UPLOAD } from "./child.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function upload(base: string, token: string, body: Buffer) {
  const res = await fetch(base + UPLOAD, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
    body,
  });
  const json = (await res.json()) as { content_uri?: string };
  return { status: res.status, uri: json.content_uri };
}

async function download(base: string, token: string, uri: string): Promise<Buffer> {
  const path = uri.replace("mxc://", "/_matrix/client/v1/media/download/");
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

/** Polls `probe` until it answers `want` (cache writes land after the response), 10 s at most. */
async function eventually(probe: () => Promise<number>, want: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let got = await probe();
  while (got !== want && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    got = await probe();
  }
  return got;
}

const RELOADED = /\{[^\n]*"msg":"config reloaded"[^\n]*/;
const count = (text: string, re: RegExp) => text.match(new RegExp(re, "g"))?.length ?? 0;

describe("SIGHUP reloads the config", { skip: notBuilt }, () => {
  it("refuses a broken file, keeps serving, then applies auth and names restart keys", async () => {
    const config = baseConfig();
    const cfg = await tempConfig(config);
    const child = await startIn(cfg);
    try {
      await cfg.write("serverName: [unclosed\n");
      child.process.kill("SIGHUP");
      await child.waitFor(/config reload refused/);
      assert.equal(count(child.output(), /config reload refused/), 1);
      assert.doesNotMatch(child.output(), /"msg":"config reloaded"/);
      assert.equal((await upload(child.url, ALICE, Buffer.from("still serving"))).status, 200);
      assert.equal((await fetch(`${child.url}/readyz`)).status, 200);

      await cfg.write({
        ...config,
        auth: { tokens: { "bob-token": "@bob:media.test" }, admins: ["@bob:media.test"] },
        limits: { maxUploadBytes: 1234 },
        serverName: "renamed.test",
      });
      child.process.kill("SIGHUP");
      const line = await child.waitFor(RELOADED);
      const { applied, restartNeeded } = JSON.parse(line[0]) as Record<string, string[]>;
      assert.deepEqual(applied!.sort(), ["auth.admins", "auth.tokens", "limits.maxUploadBytes"]);
      assert.deepEqual(restartNeeded, ["serverName"]);
      await child.waitFor(/needs a restart: serverName"/);
      assert.doesNotMatch(child.output(), /bob-token/, "tokens are never logged");
      assert.equal((await upload(child.url, "bob-token", Buffer.from("bob"))).status, 200);
      assert.equal((await upload(child.url, "bob-token", Buffer.alloc(2000))).status, 413);
      assert.equal((await upload(child.url, ALICE, Buffer.from("alice"))).status, 401);
      assert.equal(await stopChild(child), 0);
    } finally {
      await stopChild(child);
      await cfg.remove();
    }
  });

  describe("with a Redis ring", () => {
    let shards: RedisProcess[];
    let clients: Redis[];
    before(async () => {
      shards = await startRedisShards(2);
      clients = shards.map((s) => new Redis(s.url));
    });
    after(async () => {
      for (const c of clients) c.disconnect();
      await Promise.all(shards.map((s) => s.close()));
    });

    it("writes to the new shard list after SIGHUP", async () => {
      const [a, b] = shards as [RedisProcess, RedisProcess];
      const [ca, cb] = clients as [Redis, Redis];
      const config = baseConfig({ cache: { redis: { shards: [a.url], namespace: "hup" } } });
      const cfg = await tempConfig(config);
      const child = await startIn(cfg);
      try {
        const first = Buffer.from("first blob, cached on shard a");
        const one = await upload(child.url, ALICE, first);
        assert.deepEqual(await download(child.url, ALICE, one.uri!), first);
        assert.equal(await eventually(() => ca.exists(`hup:v1:blob:${sha(first)}`), 1), 1);

        await cfg.write({ ...config, cache: { redis: { shards: [b.url], namespace: "hup" } } });
        child.process.kill("SIGHUP");
        const line = await child.waitFor(RELOADED);
        const result = JSON.parse(line[0]) as Record<string, string[]>;
        assert.deepEqual(result.applied, ["cache.redis.shards"]);
        // The machine-ID lease and the invalidation channel stay on the first shard of start.
        assert.deepEqual(result.restartNeeded, ["cache.redis.shards[0]"]);

        const second = Buffer.from("second blob, cached on shard b");
        const two = await upload(child.url, ALICE, second);
        assert.deepEqual(await download(child.url, ALICE, two.uri!), second);
        assert.equal(await eventually(() => cb.exists(`hup:v1:blob:${sha(second)}`), 1), 1);
        assert.equal(await ca.exists(`hup:v1:blob:${sha(second)}`), 0);
        assert.equal(await stopChild(child), 0);
      } finally {
        await stopChild(child);
        await cfg.remove();
      }
    });
  });
});
