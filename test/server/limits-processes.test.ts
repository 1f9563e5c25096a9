// Rate limits and upload windows shared by two OS processes of the shipped CLI through one
// redis-server: each process counts part of a user's traffic, and the limit holds for the sum.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startRedis, type RedisProcess } from "../harness/redis.js";
import { startServerProcess, type ServerProcess } from "../harness/server-process.js";
import { tempDir } from "../harness/tmp.js";
import { ALICE, req } from "./helpers.js";

const BURST = 8;

describe("two CLI processes sharing Redis hold one rate limit and one upload window", () => {
  let redis: RedisProcess;
  const processes: ServerProcess[] = [];
  const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = [];
  before(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const dir = await tempDir();
      dirs.push(dir);
      const file = path.join(dir.path, "media.json");
      writeFileSync(
        file,
        JSON.stringify({
          serverName: "media.test",
          listen: { host: "127.0.0.1", port: 0 },
          metadata: { embedded: "data" },
          datastores: [{ id: "local", type: "fs", kinds: ["local", "thumbnail"], root: "media" }],
          auth: { tokens: { [ALICE]: "@alice:media.test" } },
          limits: {
            // A rate this low refills nothing during the test: only the burst counts.
            rateLimit: {
              backend: "redis",
              redis: redis.url,
              ratePerSecond: 0.001,
              burst: BURST,
              downloads: false,
            },
            quotas: { uploadWindows: [{ periodMs: 3_600_000, maxBytes: 100 }] },
          },
        }),
      );
      processes.push(await startServerProcess(`media-${i}`, file, { MACHINE_ID: String(i + 1) }));
    }
  });
  after(async () => {
    for (const p of processes) await p.stop();
    for (const d of dirs) await d.cleanup();
    await redis.close();
  });

  it("the upload window filled on one process refuses the next upload on the other", async () => {
    const [a, b] = processes as [ServerProcess, ServerProcess];
    const upload = (p: ServerProcess) =>
      req(p.url, "/_matrix/media/v3/upload", {
        method: "POST",
        token: ALICE,
        body: Buffer.alloc(60, 1),
      });
    assert.equal((await upload(a)).status, 200, a.output());
    const refused = await upload(b);
    assert.equal(refused.status, 403, b.output());
    assert.equal(refused.json().errcode, "M_USER_LIMIT_EXCEEDED");
  });

  it("requests alternating between the processes are limited by their sum", async () => {
    const [a, b] = processes as [ServerProcess, ServerProcess];
    // Two requests were counted by the upload test; the rest of the burst is shared.
    const statuses: number[] = [];
    for (let i = 0; i < BURST; i++) {
      const res = await req((i % 2 ? a : b).url, "/_matrix/client/v1/media/config", {
        token: ALICE,
      });
      statuses.push(res.status);
    }
    const passed = statuses.filter((s) => s === 200).length;
    assert.equal(passed, BURST - 2, `statuses ${statuses.join(",")}`);
    assert.deepEqual(
      statuses.slice(BURST - 2),
      [429, 429],
      "both processes refuse once the sum is spent",
    );
    const refused = await req(a.url, "/_matrix/client/v1/media/config", { token: ALICE });
    assert.equal(refused.status, 429);
    assert.equal(refused.json().errcode, "M_LIMIT_EXCEEDED");
    assert.ok(Number(refused.headers.get("retry-after")) > 0, "Retry-After is set");
  });
});
