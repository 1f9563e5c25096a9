import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { after, before, describe, it } from "node:test";
import { redisRingCache, type RedisRingCache } from "../../../src/cache/index.js";
import { ConfigError } from "../../../src/errors.js";
import {
  cacheKeyStore,
  createKeyFetcher,
  generateSigningKey,
  memoryKeyStore,
  serverKeyResponse,
  type StoredKey,
} from "../../../src/federation/index.js";
import { startRedisShards, type RedisProcess } from "../../harness/redis.js";
import {
  createTestCertificates,
  loopbackFetchJson,
  startKeyServer,
  type KeyServer,
} from "./helpers.js";

const DAY = 24 * 3600_000;
const stored = (keyId: string, validUntilTs: number): StoredKey => ({
  keyId,
  publicKey: "AAAA",
  validUntilTs,
});

describe("memoryKeyStore", () => {
  it("stores, replaces and evicts the least recently used server", async () => {
    const store = memoryKeyStore({ maxServers: 2 });
    await store.put("a.test", [stored("ed25519:1", 10), stored("ed25519:2", 20)]);
    await store.put("b.test", [stored("ed25519:1", 30)]);
    await store.put("a.test", [stored("ed25519:1", 40)]);
    assert.equal((await store.get("a.test", "ed25519:1"))?.validUntilTs, 40);
    assert.equal((await store.get("a.test", "ed25519:2"))?.validUntilTs, 20);
    await store.put("c.test", [stored("ed25519:1", 50)]); // b.test is the least recently used
    assert.equal(await store.get("b.test", "ed25519:1"), undefined);
    assert.ok(await store.get("a.test", "ed25519:1"));
    assert.ok(await store.get("c.test", "ed25519:1"));
  });

  it("bounds keys per server", async () => {
    const store = memoryKeyStore({ maxServers: 1, maxKeysPerServer: 2 });
    await store.put("a.test", [
      stored("ed25519:1", 1),
      stored("ed25519:2", 2),
      stored("ed25519:3", 3),
    ]);
    assert.equal(await store.get("a.test", "ed25519:1"), undefined);
    assert.ok(await store.get("a.test", "ed25519:3"));
  });

  it("refuses bad options", () => {
    assert.throws(() => memoryKeyStore({ maxServers: 0 }), ConfigError);
    assert.throws(() => memoryKeyStore({ maxServers: 1.5 }), ConfigError);
    assert.throws(() => memoryKeyStore(undefined as never), ConfigError);
  });
});

describe("cacheKeyStore over a Redis ring", () => {
  let servers: RedisProcess[];
  let rings: RedisRingCache[];
  let keyServer: KeyServer;
  let ca: Buffer;
  const remoteKey = generateSigningKey("r1");

  before(async () => {
    servers = await startRedisShards(2);
    // Two rings over the same shards stand for two processes of one deployment.
    rings = [0, 1].map(() =>
      redisRingCache({ shards: servers.map((s) => s.url), namespace: "fedkeys" }),
    );
    await Promise.all(rings.map((r) => r.connect()));
    const certs = await createTestCertificates();
    ca = certs.ca;
    keyServer = await startKeyServer("127.0.0.5", certs, () => ({
      body: serverKeyResponse(remoteKey, {
        serverName: "remote.test",
        validUntilTs: Date.now() + DAY,
      }),
    }));
  });
  after(async () => {
    await Promise.all(rings.map((r) => r.close()));
    await Promise.all(servers.map((s) => s.close()));
    await keyServer.close();
  });

  it("shares fetched keys between processes: the second makes no request", async () => {
    const fetchJson = loopbackFetchJson(ca, { "remote.test": keyServer });
    const [first, second] = rings.map((ring) =>
      createKeyFetcher({ serverName: "media.test", store: cacheKeyStore(ring), fetchJson }),
    );
    const a = await first!.getKey("remote.test", remoteKey.keyId);
    assert.equal(a?.publicKey, remoteKey.publicKeyBase64);
    assert.equal(keyServer.requests.length, 1);
    const b = await second!.getKey("remote.test", remoteKey.keyId);
    assert.deepEqual(b, a);
    assert.equal(keyServer.requests.length, 1, "the second process read the key from Redis");
  });

  it("gives each entry a TTL until the key expires, and skips expired keys", async () => {
    const now = Date.now();
    const store = cacheKeyStore(rings[0]!, { prefix: "ttl:", now: () => now });
    await store.put("ttl.test", [
      stored("ed25519:live", now + 60_000),
      stored("ed25519:dead", now - 1),
    ]);
    assert.ok(await store.get("ttl.test", "ed25519:live"));
    assert.equal(await store.get("ttl.test", "ed25519:dead"), undefined);
    const ttls: number[] = [];
    for (const server of servers) {
      const raw = new Redis(server.port, "127.0.0.1", { lazyConnect: true });
      await raw.connect();
      for (const key of await raw.keys("*ttl:ttl.test*")) ttls.push(await raw.pttl(key));
      await raw.quit();
    }
    assert.equal(ttls.length, 1);
    assert.ok(ttls[0]! > 0 && ttls[0]! <= 60_000, `pttl ${ttls[0]}`);
  });

  it("treats a corrupt entry as a miss", async () => {
    const store = cacheKeyStore(rings[0]!, { prefix: "bad:" });
    await rings[0]!.set("bad:x.test/ed25519:1", Buffer.from("{not json"));
    await rings[0]!.set(
      "bad:x.test/ed25519:2",
      Buffer.from('{"keyId":"ed25519:other","publicKey":"A","validUntilTs":1}'),
    );
    assert.equal(await store.get("x.test", "ed25519:1"), undefined);
    assert.equal(await store.get("x.test", "ed25519:2"), undefined);
  });
});
