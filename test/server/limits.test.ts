// The standalone's `limits.rateLimit` with the Redis backend and `limits.quotas`: two servers
// (each with its own Redis connections) sharing one redis-server hold the limits for their sum;
// a reload changes the shared limit; bad values are refused with the key named.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { loadConfig, startMediaServer, type MediaServer } from "../../src/server/index.js";
import { startRedis, type RedisProcess } from "../harness/redis.js";
import { tempDir } from "../harness/tmp.js";
import { ALICE, quiet, req, resolveConfig } from "./helpers.js";

const raw = (redisUrl: string, burst: number) => ({
  serverName: "media.test",
  listen: { port: 0 },
  datastores: [{ id: "local", type: "fs", kinds: ["local", "thumbnail"], root: "media" }],
  auth: { tokens: { [ALICE]: "@alice:media.test" } },
  limits: {
    rateLimit: { backend: "redis", redis: redisUrl, ratePerSecond: 0.01, burst, downloads: false },
    quotas: { maxFiles: 100, uploadWindows: [{ periodMs: 3_600_000, maxBytes: 100 }] },
  },
});

describe("standalone rate limits and quotas through Redis", () => {
  let redis: RedisProcess;
  const servers: MediaServer[] = [];
  const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = [];
  let file = "";
  before(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const dir = await tempDir();
      dirs.push(dir);
      file = path.join(dir.path, "media.json");
      writeFileSync(file, JSON.stringify(raw(redis.url, 6)));
      const own = file;
      const load = () => loadConfig({ file: own, env: {} });
      servers.push(await startMediaServer(load(), { logger: quiet, loadConfig: load }));
    }
  });
  after(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) await d.cleanup();
    await redis.close();
  });
  it("shares upload windows and the request limit between two servers, and reloads the limit", async () => {
    const [a, b] = servers as [MediaServer, MediaServer];
    const upload = (s: MediaServer, bytes: number) =>
      req(s.url, "/_matrix/media/v3/upload", {
        method: "POST",
        token: ALICE,
        body: Buffer.alloc(bytes, 1),
      });
    assert.equal((await upload(a, 60)).status, 200);
    const over = await upload(b, 60);
    assert.equal(over.status, 403, "b sees the window a filled");
    assert.equal(over.json().errcode, "M_USER_LIMIT_EXCEEDED");
    const config = await req(b.url, "/_matrix/client/v1/media/config", { token: ALICE });
    assert.equal(config.json()["org.matrix.msc4034.storage.max_files"], 100);
    // 3 requests so far; 3 more across both servers, then both refuse.
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await req((i % 2 ? a : b).url, "/_matrix/client/v1/media/config", {
        token: ALICE,
      });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    // A larger burst on reload (new Redis keys' limit) lets alice through again on b.
    writeFileSync(file, JSON.stringify(raw(redis.url, 1000)));
    const result = await b.reload();
    assert.ok(result.applied.includes("limits.rateLimit.burst"), JSON.stringify(result));
    const after = await req(b.url, "/_matrix/client/v1/media/config", { token: ALICE });
    assert.equal(after.status, 200);
  });

  it("refuses bad limits.rateLimit and limits.quotas values naming the key", async () => {
    const dir = await tempDir();
    try {
      for (const [limits, option] of [
        [{ rateLimit: { backend: "disk" } }, "limits.rateLimit.backend"],
        [{ rateLimit: { backend: "redis" } }, "limits.rateLimit.redis"],
        [{ rateLimit: { backend: "redis", redis: "http://x" } }, "limits.rateLimit.redis"],
        [{ quotas: { maxFiles: -1 } }, "limits.quotas.maxFiles"],
        [
          { quotas: { uploadWindows: [{ periodMs: 10, maxBytes: 1 }] } },
          "limits.quotas.uploadWindows[0].periodMs",
        ],
        [
          { quotas: { uploadWindows: [{ periodMs: 1000 }] } },
          "limits.quotas.uploadWindows[0].maxBytes",
        ],
      ] as const) {
        assert.throws(
          () => resolveConfig({ serverName: "media.test", limits }, {}, dir.path),
          (err: unknown) => err instanceof ConfigError && err.option === option,
          option,
        );
      }
      const ok = resolveConfig(
        {
          serverName: "media.test",
          limits: {
            quotas: { maxBytes: "1GiB", uploadWindows: [{ periodMs: 60_000, maxBytes: "100MiB" }] },
          },
        },
        {},
        dir.path,
      );
      assert.deepEqual(ok.http.quotas, {
        maxBytes: 1024 ** 3,
        uploadWindows: [{ periodMs: 60_000, maxBytes: 100 * 1024 ** 2 }],
      });
      assert.deepEqual(ok.http.rateLimit, { backend: "memory", ratePerSecond: 10, burst: 50 });
    } finally {
      await dir.cleanup();
    }
  });
});
