import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { MediaError } from "../../src/errors.js";
import { leaseMachineId } from "../../src/ids/index.js";
import { startRedis, type RedisProcess } from "../harness/redis.js";

const script = new URL("./fixtures/lease-holder.ts", import.meta.url).pathname;
const TTL = 600;

interface Holder {
  child: ChildProcess;
  next(): Promise<{ event: string; machineId?: number; message?: string; issued?: number }>;
}

function holder(url: string, machineId: number | "auto", ttl = TTL): Holder {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", script, url, String(machineId), String(ttl)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    child,
    next: async () => {
      const line = await lines.next();
      if (line.done) throw new Error("lease holder exited without a message");
      return JSON.parse(line.value);
    },
  };
}

describe("leaseMachineId with real processes on a real Redis", () => {
  let redis: RedisProcess;
  let client: Redis;
  const children: ChildProcess[] = [];
  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    client.disconnect();
    await redis.close();
  });

  it("refuses a second live process asking for the same ID", async () => {
    const a = holder(redis.url, 17);
    children.push(a.child);
    assert.deepEqual(await a.next(), { event: "leased", machineId: 17 });
    const b = holder(redis.url, 17);
    children.push(b.child);
    const refused = await b.next();
    assert.equal(refused.event, "refused");
    assert.match(refused.message!, /MACHINE_ID 17 is already leased by another live process/);
    a.child.kill("SIGKILL");
  });

  it("after kill -9 of the holder, the ID is refused until the TTL passes, then claimable", async () => {
    const a = holder(redis.url, 33);
    children.push(a.child);
    assert.equal((await a.next()).event, "leased");
    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await assert.rejects(leaseMachineId(client, { machineId: 33, ttlMs: TTL }), MediaError);
    let lease;
    while (!lease) {
      lease = await leaseMachineId(client, { machineId: 33, ttlMs: TTL }).catch(() => undefined);
      if (!lease) await new Promise((r) => setTimeout(r, 25));
      assert.ok(Date.now() - killedAt < TTL * 4, "claimable soon after the TTL");
    }
    assert.ok(Date.now() - killedAt >= TTL - 250, "not claimable long before the TTL");
    assert.equal(lease.machineId, 33);
    await lease.release();
    assert.equal(await client.exists("mmk:v1:machine-id:33"), 0, "release deletes the key");
  });

  it("a holder whose key is deleted externally loses the lease and stops issuing IDs", async () => {
    const a = holder(redis.url, 50);
    children.push(a.child);
    assert.equal((await a.next()).event, "leased");
    await new Promise((r) => setTimeout(r, 100));
    await client.del("mmk:v1:machine-id:50");
    const stopped = await a.next();
    assert.equal(stopped.event, "stopped");
    assert.ok(stopped.issued! > 0);
    assert.match(stopped.message!, /lease was lost/);
  });

  it("without a machine ID, picks a free one", async () => {
    const leases = [];
    for (let i = 0; i < 5; i++)
      leases.push(await leaseMachineId(client, { ttlMs: TTL, namespace: "auto-test" }));
    assert.equal(new Set(leases.map((l) => l.machineId)).size, 5);
    for (const l of leases) {
      assert.ok(l.machineId >= 0 && l.machineId <= 1023);
      await l.release();
      assert.ok(l.signal.aborted);
    }
  });

  it("keeps the lease alive across many TTLs by renewing", async () => {
    const lease = await leaseMachineId(client, { machineId: 900, ttlMs: 150 });
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(lease.signal.aborted, false);
    assert.ok((await client.pttl("mmk:v1:machine-id:900")) > 0);
    await lease.release();
  });

  it("loses the lease when Redis is unreachable for longer than the TTL", async () => {
    const own = await startRedis();
    const c = new Redis(own.url, {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    c.on("error", () => undefined);
    await c.connect();
    try {
      const lease = await leaseMachineId(c, { machineId: 1, ttlMs: 200 });
      let lost: MediaError | undefined;
      lease.signal.addEventListener("abort", () => (lost = lease.signal.reason as MediaError));
      own.stop();
      const deadline = Date.now() + 3000;
      while (!lost && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(lost, "signal fired");
      assert.match(lost.message, /no successful renewal/);
      own.cont();
      await lease.release();
    } finally {
      c.disconnect();
      await own.close();
    }
  });
});
