// The built matrix-media-kit/coordination, imported the way a user does in a fresh process:
// neither ioredis nor pg is loaded by the import or by building a coordinator, only by use.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { runBuiltScript } from "../harness/built.js";

const root = path.resolve(import.meta.dirname, "../..");

const script = `
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(path.join(root, "package.json"))});
const loaded = (name) => Object.keys(require.cache).some((k) => k.includes("/node_modules/" + name + "/"));
const state = () => ({ ioredis: loaded("ioredis"), pg: loaded("pg") });
await import("matrix-media-kit");
const coordination = await import("matrix-media-kit/coordination");
const testing = await import("matrix-media-kit/testing");
const atImport = state();
const memory = coordination.memoryCoordinator();
const lock = await memory.tryLock("x", 1000);
await lock.release();
const redis = coordination.redisCoordinator({ url: "redis://127.0.0.1:1", commandTimeoutMs: 200 });
const pg = coordination.postgresCoordinator({ url: "postgresql://127.0.0.1:1/none", commandTimeoutMs: 500 });
const built = state();
const failedOpen = await redis.tryLock("y", 1000);
const pgFailedOpen = await pg.tryLock("y", 1000);
await Promise.all([redis.close(), pg.close()]);
console.log(JSON.stringify({ names: Object.keys(coordination).sort(), atImport, built, used: state(),
  local: [failedOpen?.local, pgFailedOpen?.local], describeCoordinator: typeof testing.describeCoordinator }));
`;

describe("matrix-media-kit/coordination (built package)", () => {
  it("exports the drivers and loads ioredis and pg only when a coordinator is used", () => {
    const out = runBuiltScript(script, ["dist/coordination/index.js"]);
    for (const name of [
      "memoryCoordinator",
      "redisCoordinator",
      "postgresCoordinator",
      "DEFAULT_REDIS_COORDINATOR_OPTIONS",
      "DEFAULT_POSTGRES_COORDINATOR_OPTIONS",
      "encodeEnvelope",
      "decodeEnvelope",
    ])
      assert.ok(out.names.includes(name), `${name} is exported`);
    assert.deepEqual(out.atImport, { ioredis: false, pg: false }, "nothing heavy at import");
    assert.deepEqual(out.built, { ioredis: false, pg: false }, "factories do no I/O");
    assert.deepEqual(out.used, { ioredis: true, pg: true }, "loaded on first use");
    assert.deepEqual(out.local, [true, true], "unreachable backends fail open");
    assert.equal(out.describeCoordinator, "function");
  });
});
