import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { redisRingCache, type CacheEvent, type RedisRingCache } from "../../src/cache/index.js";
import { describeCache } from "../../src/testing/cache.js";
import { startRedis, startRedisShards, type RedisProcess } from "../harness/redis.js";
import { createTestCertificates } from "./certs.js";

describeCache("redisRingCache (3 real shards)", async () => {
  const servers = await startRedisShards(3);
  const ring = redisRingCache({ shards: servers.map((s) => s.url) });
  await ring.connect();
  const close = ring.close.bind(ring);
  return Object.assign(ring, {
    close: async () => {
      await close();
      await Promise.all(servers.map((s) => s.close()));
    },
  });
});

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("redisRingCache", () => {
  let servers: RedisProcess[];
  const raw: Redis[] = [];
  const rawFor = (server: RedisProcess) => {
    const client = new Redis(server.port, "127.0.0.1", { maxRetriesPerRequest: 1 });
    client.on("error", () => undefined);
    raw.push(client);
    return client;
  };
  const rings: RedisRingCache[] = [];
  const track = (ring: RedisRingCache) => (rings.push(ring), ring);

  before(async () => {
    servers = await startRedisShards(3);
  });
  after(async () => {
    await Promise.all(rings.map((r) => r.close()));
    for (const client of raw) client.disconnect();
    await Promise.all(servers.map((s) => s.close()));
  });

  it("shards keys (each key on exactly one server, spread over all) under the mmk:v1: prefix", async () => {
    const ring = track(redisRingCache({ shards: servers.map((s) => s.url), namespace: "spread" }));
    await ring.connect();
    for (let i = 0; i < 300; i++) await ring.set(`key-${i}`, Buffer.from(String(i)));
    const counts = await Promise.all(
      servers.map(async (s) => (await rawFor(s).keys("spread:v1:*")).length),
    );
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      300,
      "every key is stored once (sharding, not replication)",
    );
    for (const count of counts) assert.ok(count > 60, `a shard holds ${count} of 300 keys`);
    const owner = servers.find(
      (s) => ring.ring.shardFor("key-7") === `redis://127.0.0.1:${s.port}`,
    )!;
    assert.equal(await rawFor(owner).get("spread:v1:key-7"), "7");
  });

  it("keeps namespaces apart; clear() removes only its own namespace", async () => {
    const a = track(redisRingCache({ shards: servers.map((s) => s.url), namespace: "ns-a" }));
    const b = track(redisRingCache({ shards: servers.map((s) => s.url), namespace: "ns-b" }));
    await a.set("same", Buffer.from("A"));
    await b.set("same", Buffer.from("B"));
    await rawFor(servers[0]!).set("foreign", "keep me");
    assert.equal((await a.get("same"))?.toString(), "A");
    assert.equal((await b.get("same"))?.toString(), "B");
    await a.clear();
    assert.equal(await a.get("same"), undefined);
    assert.equal((await b.get("same"))?.toString(), "B");
    assert.equal(await rawFor(servers[0]!).get("foreign"), "keep me");
  });

  it("stores large values, honours their TTL, and leaves no TTL on values set without one", async () => {
    const ring = track(redisRingCache({ shards: servers.map((s) => s.url), namespace: "large" }));
    const big = Buffer.alloc(256 * 1024, 0x42);
    await ring.set("big", big);
    // Long enough that a busy machine still reads the value back before it expires.
    await ring.set("big-ttl", big, { ttlMs: 1500 });
    assert.deepEqual(await ring.get("big"), big);
    assert.deepEqual(await ring.get("big-ttl"), big);
    const owner = servers.find(
      (s) => ring.ring.shardFor("big-ttl") === `redis://127.0.0.1:${s.port}`,
    )!;
    const pttl = await rawFor(owner).pttl("large:v1:big-ttl");
    assert.ok(pttl > 0 && pttl <= 1500, `TTL ${pttl}`);
    const bigOwner = servers.find(
      (s) => ring.ring.shardFor("big") === `redis://127.0.0.1:${s.port}`,
    )!;
    assert.equal(await rawFor(bigOwner).pttl("large:v1:big"), -1, "no TTL unless asked");
    // Expiry is Redis's: wait for it, bounded generously.
    const deadline = Date.now() + 15_000;
    while ((await ring.get("big-ttl")) !== undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await ring.get("big-ttl"), undefined);
  });

  it("does not cache values above maxItemBytes", async () => {
    const events: CacheEvent[] = [];
    const ring = track(
      redisRingCache({
        shards: servers.map((s) => s.url),
        maxItemBytes: 1024,
        metrics: (e) => events.push(e),
      }),
    );
    await ring.set("small", Buffer.alloc(1024, 1));
    await ring.set("big", Buffer.alloc(1025, 1));
    assert.equal((await ring.get("small"))?.length, 1024);
    assert.equal(await ring.get("big"), undefined);
    assert.ok(events.some((e) => e.type === "skip" && e.key === "big" && e.reason === "too-large"));
  });

  it("works with a password-protected shard; a wrong password is a miss, not an error", async () => {
    const secured = await startRedis({ password: "s3cret pass" });
    try {
      const ring = track(redisRingCache({ shards: [secured.url] }));
      await ring.set("k", Buffer.from("v"));
      assert.equal((await ring.get("k"))?.toString(), "v");
      const events: CacheEvent[] = [];
      const wrong = track(
        redisRingCache({
          shards: [`redis://:wrong@127.0.0.1:${secured.port}`],
          probeIntervalMs: 60_000,
          metrics: (e) => events.push(e),
        }),
      );
      assert.equal(await wrong.get("k"), undefined);
      await wrong.set("k", Buffer.from("x"));
      assert.equal((await ring.get("k"))?.toString(), "v");
      const down = events.find((e) => e.type === "shard-down");
      assert.ok(down, "the failing shard is reported down");
      assert.equal(
        down.type === "shard-down" && down.shard.includes("wrong"),
        false,
        "no password in events",
      );
    } finally {
      await secured.close();
    }
  });

  it("works with a unix-socket shard", async () => {
    const local = await startRedis({ unixSocket: true });
    try {
      const ring = track(redisRingCache({ shards: [`unix://${local.socketPath!}`] }));
      await ring.set("over-socket", Buffer.from("yes"));
      assert.equal((await ring.get("over-socket"))?.toString(), "yes");
      assert.deepEqual(ring.status()[0]?.name, `unix://${local.socketPath!}`);
      assert.equal(await rawFor(local).get("mmk:v1:over-socket"), "yes");
    } finally {
      await local.close();
    }
  });

  it("works with a TLS shard (rediss://) and a private CA; an untrusted certificate is a miss", async () => {
    const certs = await createTestCertificates();
    const secure = await startRedis({ tls: certs });
    try {
      assert.match(secure.url, /^rediss:\/\//);
      const ring = track(
        redisRingCache({ shards: [secure.url], redisOptions: { tls: { ca: certs.ca } } }),
      );
      await ring.set("over-tls", Buffer.from("encrypted"));
      assert.equal((await ring.get("over-tls"))?.toString(), "encrypted");
      assert.equal(ring.status()[0]?.state, "up");
      const untrusted = track(redisRingCache({ shards: [secure.url], probeIntervalMs: 60_000 }));
      assert.equal(await untrusted.get("over-tls"), undefined);
      assert.equal(untrusted.status()[0]?.state, "down");
    } finally {
      await secure.close();
      await certs.cleanup();
    }
  });

  it("accepts injected ioredis clients and leaves them open on close", async () => {
    const client = new Redis(servers[1]!.port, "127.0.0.1", { lazyConnect: true });
    raw.push(client);
    const ring = redisRingCache({ shards: [{ name: "injected", client }], namespace: "inj" });
    await ring.set("k", Buffer.from("v"));
    assert.equal((await ring.get("k"))?.toString(), "v");
    await ring.close();
    assert.equal(await client.get("inj:v1:k"), "v");
  });

  it("setShards grows the ring at runtime: ≈3/4 of keys stay reachable, new ones land on the new shard", async () => {
    const extra = await startRedis();
    try {
      const ring = track(redisRingCache({ shards: servers.map((s) => s.url), namespace: "grow" }));
      const keys = Array.from({ length: 400 }, (_, i) => `grow-${i}`);
      for (const key of keys) await ring.set(key, Buffer.from(key));
      await ring.setShards([...servers.map((s) => s.url), extra.url]);
      assert.equal(ring.ring.size, 4);
      let hits = 0;
      for (const key of keys) if ((await ring.get(key)) !== undefined) hits++;
      assert.ok(hits / keys.length > 0.65 && hits / keys.length < 0.85, `${hits} of 400 still hit`);
      const moved = keys.find((k) => ring.ring.shardFor(k) === `redis://127.0.0.1:${extra.port}`)!;
      await ring.set(moved, Buffer.from("fresh"));
      assert.equal(await rawFor(extra).get(`grow:v1:${moved}`), "fresh");
      const connectionsTo = async (server: RedisProcess) =>
        ((await rawFor(server).client("LIST")) as string)
          .split("\n")
          .filter((l) => l.includes("name=mmk-ring")).length;
      const before = await connectionsTo(servers[0]!);
      await ring.setShards([extra.url]);
      await until(async () => (await connectionsTo(servers[0]!)) === before - 1);
      assert.deepEqual(
        ring.status().map((s) => s.name),
        [`redis://127.0.0.1:${extra.port}`],
      );
      assert.equal((await ring.get(moved))?.toString(), "fresh");
    } finally {
      await extra.close();
    }
  });

  it("validates options with messages naming the option", () => {
    assert.throws(
      () => redisRingCache({ shards: [] }),
      /at least one entry in redisRingCache shards/,
    );
    assert.throws(
      () => redisRingCache({ shards: ["http://x"] }),
      /redis:\/\/, rediss:\/\/ or unix:\/\/ URL for redisRingCache shards\[0\]/,
    );
    assert.throws(
      () => redisRingCache({ shards: ["redis://a"], commandTimeoutMs: 0 }),
      /positive integer for redisRingCache commandTimeoutMs but received 0/,
    );
    assert.throws(() => redisRingCache({ shards: ["redis://a", "redis://a"] }), /distinct/);
    assert.throws(() => redisRingCache({ shards: [{ client: {} as Redis }] }), /needs a name/);
    assert.throws(
      () => redisRingCache({ shards: ["redis://:pw@a:1/x"] }),
      (error: Error) => {
        assert.doesNotMatch(error.message, /pw/);
        return true;
      },
    );
  });
});
