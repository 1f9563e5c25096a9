// The built package, imported the way a user does (through the `exports` map), in a fresh
// process: the public names are there and ioredis is not loaded until a ring connects.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { runBuiltScript } from "../harness/built.js";

const root = path.resolve(import.meta.dirname, "../..");

const script = `
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(path.join(root, "package.json"))});
const ioredisLoaded = () => Object.keys(require.cache).some((k) => k.includes("/node_modules/ioredis/"));
const cache = await import("matrix-media-kit/cache");
const testing = await import("matrix-media-kit/testing").catch(() => ({}));
const before = ioredisLoaded();
const l1 = cache.memoryCache({ maxBytes: 1024 });
await l1.set("k", Buffer.from("v"));
const tiered = cache.tieredCache([l1]);
const hit = (await tiered.get("k"))?.toString();
const middle = ioredisLoaded();
const ring = cache.redisRingCache({ shards: ["redis://127.0.0.1:1"], connectTimeoutMs: 200 });
const miss = await ring.get("k");
await ring.close();
console.log(JSON.stringify({ names: Object.keys(cache).sort(), before, middle, after: ioredisLoaded(), hit, miss: miss ?? null,
  describeCache: typeof testing.describeCache }));
`;

describe("matrix-media-kit/cache (built package)", () => {
  it("exports the public API and loads ioredis only when a ring connects", () => {
    const out = runBuiltScript(script, ["dist/cache/index.js"]);
    for (const name of [
      "memoryCache",
      "redisRingCache",
      "tieredCache",
      "HashRing",
      "redisInvalidation",
      "CACHE_CHANNEL",
    ]) {
      assert.ok(out.names.includes(name), `${name} is exported`);
    }
    assert.equal(out.before, false, "importing matrix-media-kit/cache does not load ioredis");
    assert.equal(out.middle, false, "memory and tiered caches do not load ioredis");
    assert.equal(out.after, true, "the ring loads ioredis when it connects");
    assert.equal(out.hit, "v");
    assert.equal(out.miss, null, "an unreachable shard is a miss");
    assert.equal(out.describeCache, "function", "matrix-media-kit/testing exports describeCache");
  });
});
