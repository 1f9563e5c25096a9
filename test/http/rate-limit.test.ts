// The token-bucket rateLimit hook: bursts, refill, separate keys, exemptions, options.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { tokenBucketRateLimit, type RateLimitContext } from "../../src/http/index.js";

const ctx = (over: Partial<RateLimitContext>): RateLimitContext => ({
  route: "download",
  user: undefined,
  ip: "127.0.0.1",
  req: {} as IncomingMessage,
  ...over,
});

describe("tokenBucketRateLimit", () => {
  it("allows a burst, then answers the wait until the next token, and refills at the rate", () => {
    let t = 0;
    const limit = tokenBucketRateLimit({ ratePerSecond: 2, burst: 3, now: () => t });
    const alice = ctx({ user: { userId: "@alice:hs" } });
    assert.deepEqual([limit(alice), limit(alice), limit(alice)], [undefined, undefined, undefined]);
    assert.equal(limit(alice), 500, "one token every 500 ms");
    t += 250;
    assert.equal(limit(alice), 250);
    t += 250;
    assert.equal(limit(alice), undefined);
    t += 10_000;
    // Refilled to the burst, never above it.
    assert.deepEqual([limit(alice), limit(alice), limit(alice)], [undefined, undefined, undefined]);
    assert.ok((limit(alice) ?? 0) > 0);
  });

  it("keys users, servers and addresses apart, and exempts what the key function skips", () => {
    const t = 0;
    const limit = tokenBucketRateLimit({ ratePerSecond: 1, burst: 1, now: () => t });
    assert.equal(limit(ctx({ user: { userId: "@a:hs" } })), undefined);
    assert.equal(limit(ctx({ user: { userId: "@b:hs" } })), undefined);
    assert.equal(limit(ctx({ server: "other.example" })), undefined);
    assert.equal(limit(ctx({ ip: "127.0.0.2" })), undefined);
    assert.ok((limit(ctx({ user: { userId: "@a:hs" } })) ?? 0) > 0);
    assert.ok((limit(ctx({ ip: "127.0.0.2" })) ?? 0) > 0);
    const exempt = tokenBucketRateLimit({ burst: 1, key: (c) => (c.user ? undefined : "anon") });
    for (let i = 0; i < 5; i++)
      assert.equal(exempt(ctx({ user: { userId: "@admin:hs" } })), undefined);
  });

  it("refuses bad options with a ConfigError naming the option", () => {
    for (const [options, option] of [
      [{ ratePerSecond: 0 }, "ratePerSecond"],
      [{ burst: 1.5 }, "burst"],
      [{ maxKeys: -1 }, "maxKeys"],
      [{ key: "user" }, "key"],
    ] as const) {
      assert.throws(
        () => tokenBucketRateLimit(options as never),
        (err: unknown) => err instanceof ConfigError && err.option === option,
      );
    }
  });
});
