// The Redis-backed limiter between two handlers, each with its own Redis client, sharing one
// redis-server (as two processes would): the request limit, the download-bytes bucket and the
// upload windows hold for the sum of both. Redis killed: decisions fail open and count
// locally. Redis frozen (SIGSTOP): a decision still ends within the timeout.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { ConfigError } from "../../src/errors.js";
import { createRedisRateLimiter, type RateLimitContext } from "../../src/http/index.js";
import { admitLevel, leak } from "../../src/http/leaky-bucket.js";
import { startRedis, type RedisProcess } from "../harness/redis.js";
import {
  createFixture,
  request,
  TOKENS,
  upload,
  type Fixture,
  type RawResponse,
} from "./fixture.js";

const client = (url: string) =>
  new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
const ctx = (userId: string): RateLimitContext => ({
  route: "download",
  user: { userId },
  ip: "127.0.0.1",
  req: {} as never,
});

describe("createRedisRateLimiter", () => {
  let redis: RedisProcess;
  const clients: Redis[] = [];
  const fixtures: Fixture[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(fixtures.map((f) => f.close()));
    for (const c of clients) c.disconnect();
    await redis.close();
  });
  const newClient = async (url = redis.url) => {
    const c = client(url);
    c.on("error", () => undefined);
    clients.push(c);
    await new Promise<void>((resolve) =>
      c.status === "ready" ? resolve() : c.once("ready", resolve),
    );
    return c;
  };

  it("holds the request limit for the sum of two handlers", async () => {
    const pair: Fixture[] = [];
    for (let i = 0; i < 2; i++) {
      const limiter = createRedisRateLimiter({
        redis: await newClient(),
        namespace: "t1",
        requests: { ratePerSecond: 0.01, burst: 5 },
        downloads: false,
      });
      const f = await createFixture({ handler: { rateLimit: limiter.rateLimit } });
      fixtures.push(f);
      pair.push(f);
    }
    const statuses: number[] = [];
    let refused: RawResponse | undefined;
    for (let i = 0; i < 10; i++) {
      const res = await request(pair[i % 2]!.baseUrl, "GET", "/_matrix/client/v1/media/config", {
        token: TOKENS.alice,
      });
      statuses.push(res.status);
      if (res.status === 429) refused = res;
    }
    assert.equal(statuses.filter((s) => s === 200).length, 5, `statuses ${statuses.join(",")}`);
    assert.ok(refused, "a request was refused");
    assert.equal(refused.json().errcode, "M_LIMIT_EXCEEDED");
    assert.ok(Number(refused.headers["retry-after"]) >= 1);
    assert.ok(refused.json().retry_after_ms > 0);
    const bob = await request(pair[0]!.baseUrl, "GET", "/_matrix/client/v1/media/config", {
      token: TOKENS.bob,
    });
    assert.equal(bob.status, 200, "another user has their own limit");
  });

  it("drains one leaky bucket of download bytes across two handlers, and shares upload windows", async () => {
    const pair: Fixture[] = [];
    for (let i = 0; i < 2; i++) {
      const limiter = createRedisRateLimiter({
        redis: await newClient(),
        namespace: "t2",
        requests: false,
        downloads: { capacityBytes: 100, drainBytesPerMinute: 1, overflowBytes: 0 },
      });
      const f = await createFixture({
        handler: {
          downloadLimit: limiter.downloadLimit,
          quotas: {
            uploadWindows: [{ periodMs: 3_600_000, maxBytes: 100 }],
            windows: limiter.uploadWindows,
          },
        },
      });
      fixtures.push(f);
      pair.push(f);
    }
    const [a, b] = pair as [Fixture, Fixture];
    const { mediaId } = await upload(a.baseUrl, Buffer.alloc(60, 1), "application/octet-stream");
    const over = await request(b.baseUrl, "POST", "/_matrix/media/v3/upload", {
      token: TOKENS.alice,
      body: Buffer.alloc(60, 2),
    });
    assert.equal(over.status, 403, "the window filled through the other handler");
    assert.equal(over.json().errcode, "M_USER_LIMIT_EXCEEDED");
    // The record is in a's store only: download it from a twice (60 + 60 > 100).
    const path = `/_matrix/client/v1/media/download/test.local/${mediaId}`;
    const first = await request(a.baseUrl, "GET", path, { token: TOKENS.bob });
    assert.equal(first.status, 200);
    const head = await request(a.baseUrl, "HEAD", path, { token: TOKENS.bob });
    assert.equal(head.status, 200, "HEAD sends no bytes and is not charged");
    const second = await request(a.baseUrl, "GET", path, { token: TOKENS.bob });
    assert.equal(second.status, 429);
    assert.equal(second.json().errcode, "M_LIMIT_EXCEEDED");
    assert.ok(Number(second.headers["retry-after"]) > 0);
    const ranged = await request(a.baseUrl, "GET", path, {
      token: TOKENS.bob,
      headers: { Range: "bytes=0-9" },
    });
    assert.equal(ranged.status, 206, "a range is charged its own length (10 bytes fit)");
  });

  it("fails open and counts locally while Redis is down", async () => {
    const down = await startRedis();
    const c = await newClient(down.url);
    const limiter = createRedisRateLimiter({
      redis: c,
      namespace: "t3",
      requests: { ratePerSecond: 0.01, burst: 3 },
      downloads: { capacityBytes: 100, drainBytesPerMinute: 1, overflowBytes: 0 },
    });
    await down.close();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await limiter.rateLimit(ctx("@carol:hs")));
    assert.deepEqual(answers.slice(0, 3), [undefined, undefined, undefined], "served while down");
    assert.ok((answers[3] ?? 0) > 0, "the local insurance limiter still counts");
    assert.equal(await limiter.downloadLimit(ctx("@carol:hs"), 80), undefined);
    assert.ok(
      ((await limiter.downloadLimit(ctx("@carol:hs"), 80)) ?? 0) > 0,
      "bytes counted locally",
    );
    assert.equal(await limiter.uploadWindows.used("@carol:hs", 60_000), 0);
    await limiter.uploadWindows.add("@carol:hs", 60_000, 7);
    assert.equal(await limiter.uploadWindows.used("@carol:hs", 60_000), 7);
  });

  it("decides within its timeout when Redis accepts but never answers", async () => {
    // A scripted peer that accepts connections and never replies, and a frozen redis-server.
    const peers = new Set<net.Socket>();
    const silent = net.createServer((socket) => void peers.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const frozen = await startRedis();
    try {
      const mute = client(`redis://127.0.0.1:${port}`);
      mute.on("error", () => undefined);
      clients.push(mute);
      const stopped = await newClient(frozen.url);
      frozen.stop();
      for (const redisClient of [mute, stopped]) {
        const limiter = createRedisRateLimiter({
          redis: redisClient,
          namespace: "t4",
          timeoutMs: 100,
          requests: { ratePerSecond: 0.01, burst: 2 },
        });
        const started = performance.now();
        const decisions = await Promise.all([
          limiter.rateLimit(ctx("@dave:hs")),
          limiter.downloadLimit(ctx("@dave:hs"), 10),
          limiter.uploadWindows.used("@dave:hs", 60_000),
        ]);
        // Bounded by the timeout (generous margin for a loaded machine), never by Redis.
        assert.ok(performance.now() - started < 5_000);
        assert.deepEqual(decisions, [undefined, undefined, 0]);
      }
    } finally {
      frozen.cont();
      await frozen.close();
      for (const socket of peers) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("spreads keys over several shards consistently", async () => {
    const other = await startRedis();
    try {
      const make = async () =>
        createRedisRateLimiter({
          redis: [await newClient(), await newClient(other.url)],
          namespace: "t5",
          requests: { ratePerSecond: 0.01, burst: 1 },
          downloads: false,
        });
      const [x, y] = [await make(), await make()];
      for (let i = 0; i < 20; i++) {
        assert.equal(await x.rateLimit(ctx(`@u${i}:hs`)), undefined);
        assert.ok(
          ((await y.rateLimit(ctx(`@u${i}:hs`))) ?? 0) > 0,
          "the other limiter sees the same shard",
        );
      }
      const keys = [await clients.at(-1)!.dbsize()];
      assert.ok(keys[0]! > 0 && keys[0]! < 20, "both shards hold some keys");
    } finally {
      await other.close();
    }
  });

  it("refuses bad options with a ConfigError naming the option", async () => {
    const c = await newClient();
    for (const [options, option] of [
      [{ redis: [] }, "redis"],
      [{ redis: c, timeoutMs: 0 }, "timeoutMs"],
      [{ redis: c, requests: { ratePerSecond: 1, burst: 0.5 } }, "requests.burst"],
      [
        { redis: c, downloads: { capacityBytes: -1, drainBytesPerMinute: 1, overflowBytes: 0 } },
        "downloads.capacityBytes",
      ],
      [{ redis: c, key: "user" }, "key"],
    ] as const) {
      assert.throws(
        () => createRedisRateLimiter(options as never),
        (err: unknown) => err instanceof ConfigError && err.option === option,
      );
    }
  });
});

describe("leaky bucket", () => {
  const rule = { capacity: 100, overflow: 50, drainPerMs: 1 };
  it("drains over time, overflows once from below capacity, and admits a huge item only when empty", () => {
    const s = { level: 0, at: 0 };
    assert.equal(leak(rule, s, 90, 0), 0);
    assert.equal(leak(rule, s, 50, 0), 0, "overflow: 90 + 50 ≤ 150 from a level under capacity");
    assert.equal(s.level, 140);
    assert.equal(leak(rule, s, 1, 0), 40, "over capacity: no overflow until drained back to 100");
    assert.equal(leak(rule, s, 1, 40), 0);
    assert.equal(admitLevel(rule, 500), 0);
    assert.equal(leak(rule, { level: 1, at: 0 }, 500, 0), 1);
    assert.equal(leak(rule, { level: 1, at: 0 }, 500, 1), 0, "a huge item fits an empty bucket");
  });
});

describe("downloadLimit hook", () => {
  it("is charged the bytes of client and federation downloads with who asks, before sending", async () => {
    const seen: Array<[string, string | undefined, string | undefined, number]> = [];
    const f = await createFixture({
      handler: {
        authenticateServer: async () => "remote.example",
        downloadLimit: (c, bytes) => {
          seen.push([c.route, c.user?.userId, c.server, bytes]);
          return bytes > 50 ? 1234 : undefined;
        },
      },
    });
    try {
      const { mediaId } = await upload(f.baseUrl, Buffer.alloc(60, 1), "application/octet-stream");
      const fed = await request(
        f.baseUrl,
        "GET",
        `/_matrix/federation/v1/media/download/${mediaId}`,
      );
      assert.equal(fed.status, 429);
      assert.equal(fed.json().retry_after_ms, 1234);
      assert.equal(fed.headers["retry-after"], "2");
      const ranged = await request(
        f.baseUrl,
        "GET",
        `/_matrix/client/v1/media/download/test.local/${mediaId}`,
        {
          token: TOKENS.bob,
          headers: { Range: "bytes=10-19" },
        },
      );
      assert.equal(ranged.status, 206);
      assert.deepEqual(seen, [
        ["federation_download", undefined, "remote.example", 60],
        ["download", "@bob:test.local", undefined, 10],
      ]);
    } finally {
      await f.close();
    }
  });
});
