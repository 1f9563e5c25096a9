import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  memoryCache,
  redisInvalidation,
  redisRingCache,
  tieredCache,
  type CacheEvent,
  type MediaCache,
} from "../../src/cache/index.js";
import { describeCache } from "../../src/testing/cache.js";
import { startRedis, startRedisShards, type RedisProcess } from "../harness/redis.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 5_000,
): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describeCache("tieredCache(memory, memory)", () =>
  tieredCache([memoryCache({ maxBytes: 1 << 20 }), memoryCache({ maxBytes: 4 << 20 })]),
);

describeCache("tieredCache(memory, redisRingCache) with invalidation", async () => {
  const servers = await startRedisShards(2);
  const cache = tieredCache(
    [memoryCache({ maxBytes: 1 << 20 }), redisRingCache({ shards: servers.map((s) => s.url) })],
    { invalidation: redisInvalidation({ url: servers[0]!.url }) },
  );
  await cache.connect();
  const close = cache.close.bind(cache);
  return Object.assign(cache, {
    close: async () => {
      await close();
      await Promise.all(servers.map((s) => s.close()));
    },
  });
});

/** A second process holding a tiered cache, driven over IPC. */
class Worker {
  #next = 1;
  #pending = new Map<number, (value: unknown) => void>();
  private constructor(readonly child: ChildProcess) {
    child.on("message", (message: { id: number; result: unknown }) => {
      this.#pending.get(message.id)?.(message.result);
      this.#pending.delete(message.id);
    });
  }
  static async start(shards: string[], busUrl: string): Promise<Worker> {
    const child = fork(
      path.join(import.meta.dirname, "fixtures", "tiered-worker.ts"),
      [JSON.stringify(shards), busUrl],
      {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      },
    );
    const [ready] = (await once(child, "message")) as [{ result: unknown }];
    assert.equal(ready.result, "ready");
    return new Worker(child);
  }
  call(op: string, key?: string): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.child.send({ id, op, key });
    });
  }
  async close(): Promise<void> {
    const exited = once(this.child, "exit");
    await this.call("close");
    await exited;
  }
}

describe("tieredCache", () => {
  let servers: RedisProcess[];
  const closers: Array<() => Promise<void>> = [];
  before(async () => {
    servers = await startRedisShards(2);
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await Promise.all(servers.map((s) => s.close()));
  });

  it("reads through L1 → L2 and promotes L2 hits into L1", async () => {
    const l1 = memoryCache({ maxBytes: 1 << 20 });
    const l2Events: CacheEvent[] = [];
    const l2 = redisRingCache({
      shards: servers.map((s) => s.url),
      namespace: "promo",
      metrics: (e) => l2Events.push(e),
    });
    const cache = tieredCache([l1, l2]);
    closers.push(() => cache.close());
    await l2.set("k", Buffer.from("from L2"));
    assert.equal(l1.has("k"), false);
    assert.equal((await cache.get("k"))?.toString(), "from L2");
    assert.equal(l1.has("k"), true, "promoted into L1");
    const l2Gets = l2Events.filter((e) => e.type === "hit" || e.type === "miss").length;
    assert.equal((await cache.get("k"))?.toString(), "from L2");
    assert.equal(
      l2Events.filter((e) => e.type === "hit" || e.type === "miss").length,
      l2Gets,
      "an L1 hit does not touch L2",
    );
  });

  it("delete removes the key from every tier of this process", async () => {
    const l1 = memoryCache({ maxBytes: 1 << 20 });
    const l2 = redisRingCache({ shards: servers.map((s) => s.url), namespace: "del" });
    const cache = tieredCache([l1, l2]);
    closers.push(() => cache.close());
    await cache.set("k", Buffer.from("v"));
    assert.ok(l1.has("k"));
    assert.ok(await l2.get("k"));
    await cache.delete("k");
    assert.equal(l1.has("k"), false);
    assert.equal(await l2.get("k"), undefined);
    assert.equal(await cache.get("k"), undefined);
  });

  it("a read that overlaps a delete does not resurrect the value in L1", async () => {
    const l1 = memoryCache({ maxBytes: 1 << 20 });
    const backing = memoryCache({ maxBytes: 1 << 20 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slowL2: MediaCache = {
      ...backing,
      get: async (key) => {
        const value = await backing.get(key);
        await gate;
        return value;
      },
    };
    const cache = tieredCache([l1, slowL2]);
    await backing.set("k", Buffer.from("old"));
    const read = cache.get("k");
    await sleep(5);
    await cache.delete("k");
    release();
    assert.equal((await read)?.toString(), "old", "the racing reader got what it read");
    assert.equal(l1.has("k"), false, "but did not promote it after the delete");
    assert.equal(await cache.get("k"), undefined);
  });

  it("invalidation: a key deleted in one process disappears from a second process's L1", async () => {
    const shardUrls = servers.map((s) => s.url);
    const worker = await Worker.start(shardUrls, servers[0]!.url);
    closers.push(() => worker.close());
    const l1 = memoryCache({ maxBytes: 1 << 20 });
    const cache = tieredCache([l1, redisRingCache({ shards: shardUrls })], {
      invalidation: redisInvalidation({ url: servers[0]!.url }),
    });
    closers.push(() => cache.close());
    await cache.connect();

    await cache.set("quarantine-me", Buffer.from("bad media"));
    assert.equal(await worker.call("get", "quarantine-me"), "bad media");
    assert.equal(
      await worker.call("l1has", "quarantine-me"),
      true,
      "the second process holds it in its L1",
    );

    await cache.delete("quarantine-me");
    await until(
      "the worker's L1 to drop the key",
      async () => (await worker.call("l1has", "quarantine-me")) === false,
    );
    assert.equal(
      await worker.call("get", "quarantine-me"),
      null,
      "gone from every tier, seen from the other process",
    );

    // And the other way round.
    await cache.set("other-way", Buffer.from("x"));
    assert.equal((await cache.get("other-way"))?.toString(), "x");
    assert.equal(await worker.call("delete", "other-way"), true);
    await until("this process's L1 to drop the key", () => !l1.has("other-way"));
  });

  it("clears its local tiers when the invalidation bus reconnects (messages may have been lost)", async () => {
    const bus = await startRedis();
    closers.push(() => bus.close());
    const events: CacheEvent[] = [];
    const l1 = memoryCache({ maxBytes: 1 << 20 });
    const cache = tieredCache([l1], {
      invalidation: redisInvalidation({ url: bus.url }),
      metrics: (e) => events.push(e),
    });
    closers.push(() => cache.close());
    await cache.connect();
    await cache.set("k", Buffer.from("v"));
    await bus.restart();
    await until("reset", () => events.some((e) => e.type === "reset"), 8_000);
    assert.equal(l1.has("k"), false);
  });

  it("never throws when every backend is gone", async () => {
    const dead = await startRedis();
    const l1 = memoryCache({ maxBytes: 1 << 20 });
    const cache = tieredCache([l1, redisRingCache({ shards: [dead.url], commandTimeoutMs: 100 })], {
      invalidation: redisInvalidation({ url: dead.url, commandTimeoutMs: 100 }),
    });
    closers.push(() => cache.close());
    await dead.close();
    await cache.set("k", Buffer.from("v"));
    assert.equal((await cache.get("k"))?.toString(), "v", "L1 still serves");
    const start = performance.now();
    await cache.delete("k");
    const took = performance.now() - start;
    assert.ok(took < 1_000, `delete with every backend down took ${took.toFixed(0)} ms`);
    assert.equal(await cache.get("k"), undefined);
    assert.equal(
      (await cache.getOrLoad("k", async () => Buffer.from("loaded")))?.toString(),
      "loaded",
    );
  });

  it("redisInvalidation accepts an injected ioredis client (and leaves it open)", async () => {
    const { Redis } = await import("ioredis");
    const client = new Redis(servers[1]!.port, "127.0.0.1");
    client.on("error", () => undefined);
    const a = redisInvalidation({ redis: client, channel: "injected" });
    const b = redisInvalidation({ url: servers[1]!.url, channel: "injected" });
    const heard: unknown[] = [];
    b.subscribe((event) => heard.push(event));
    await Promise.all([a.connect!(), b.connect!()]);
    await a.publish({ type: "delete", keys: ["x", "y"] });
    await until("the message", () => heard.length > 0);
    assert.deepEqual(heard, [{ type: "delete", keys: ["x", "y"] }]);
    await a.close();
    await b.close();
    assert.equal(await client.ping(), "PONG", "the injected client is still usable");
    client.disconnect();
  });

  it("validates its tiers", () => {
    assert.throws(() => tieredCache([]), /at least one tier/);
    assert.throws(() => tieredCache([{} as MediaCache]), /tiers\[0\] is not a MediaCache/);
  });
});
