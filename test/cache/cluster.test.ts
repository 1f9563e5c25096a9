// Redis Cluster as one ring member: for operators who already run a cluster, an injected
// ioredis Cluster client routes keys itself; the ring adds deadlines and fail-open.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Cluster } from "ioredis";
import { redisRingCache, type RedisRingCache } from "../../src/cache/index.js";
import { describeCache } from "../../src/testing/cache.js";
import { startRedisShards, type RedisProcess } from "../harness/redis.js";
import { requireService } from "../harness/require.js";

async function startCluster(): Promise<RedisProcess[]> {
  requireService("redis-cli", "redis-tools");
  const nodes = await startRedisShards(3, {
    cluster: true,
    // A node-timeout long enough that a busy machine does not mark a live node as failing.
    args: ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "15000"],
  });
  execFileSync(
    "redis-cli",
    [
      "--cluster",
      "create",
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ],
    { stdio: "pipe" },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = nodes.every((n) =>
      execFileSync("redis-cli", ["-p", String(n.port), "cluster", "info"], {
        encoding: "utf8",
      }).includes("cluster_state:ok"),
    );
    if (ok) return nodes;
    if (Date.now() > deadline) throw new Error("the test cluster did not reach cluster_state:ok");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const newCluster = (nodes: RedisProcess[]) => {
  const cluster = new Cluster(
    nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
    { lazyConnect: true, enableOfflineQueue: false },
  );
  cluster.on("error", () => undefined);
  return cluster;
};

describeCache("redisRingCache over an injected Redis Cluster", async () => {
  const nodes = await startCluster();
  const cluster = newCluster(nodes);
  const ring = redisRingCache({ shards: [{ name: "cluster", client: cluster }] });
  await ring.connect();
  const close = ring.close.bind(ring);
  return Object.assign(ring, {
    close: async () => {
      await close();
      cluster.disconnect();
      await Promise.all(nodes.map((n) => n.close()));
    },
  });
});

describe("redisRingCache over Redis Cluster", () => {
  let nodes: RedisProcess[];
  let cluster: Cluster;
  let ring: RedisRingCache;
  before(async () => {
    nodes = await startCluster();
    cluster = newCluster(nodes);
    ring = redisRingCache({
      shards: [{ name: "cluster", client: cluster }],
      commandTimeoutMs: 250,
    });
    await ring.connect();
  });
  after(async () => {
    await ring.close();
    cluster.disconnect();
    await Promise.all(nodes.map((n) => n.close()));
  });

  it("spreads keys over the cluster's nodes", async () => {
    for (let i = 0; i < 60; i++) await ring.set(`k${i}`, Buffer.from(String(i)));
    const counts = nodes.map((n) =>
      Number(
        execFileSync("redis-cli", ["-p", String(n.port), "dbsize"], { encoding: "utf8" }).trim(),
      ),
    );
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      60,
    );
    for (const count of counts) assert.ok(count > 0, `a node holds ${count} keys`);
    assert.equal((await ring.get("k42"))?.toString(), "42");
  });

  it("clear() removes the namespace from every master", async () => {
    for (let i = 0; i < 30; i++) await ring.set(`c${i}`, Buffer.from("x"));
    await ring.clear();
    for (let i = 0; i < 30; i++) assert.equal(await ring.get(`c${i}`), undefined);
  });

  it("a frozen cluster node is a miss within the command timeout, never an error", async () => {
    const key = "frozen-key";
    await ring.set(key, Buffer.from("v"));
    const slotOwner = nodes.find(
      (n) =>
        execFileSync(
          "redis-cli",
          [
            "-p",
            String(n.port),
            "cluster",
            "countkeysinslot",
            execFileSync(
              "redis-cli",
              ["-p", String(n.port), "cluster", "keyslot", `mmk:v1:${key}`],
              { encoding: "utf8" },
            ).trim(),
          ],
          { encoding: "utf8" },
        ).trim() === "1",
    )!;
    slotOwner.stop();
    try {
      const start = performance.now();
      assert.equal(await ring.get(key), undefined);
      assert.ok(performance.now() - start <= 250 + 150);
    } finally {
      slotOwner.cont();
    }
  });
});
