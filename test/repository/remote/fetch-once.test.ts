// Remote media is fetched once: for concurrent lookups in one repository (single flight), for
// two repositories sharing a coordinator (as two processes share Redis), and after a holder
// that died or lost its lock.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { memoryCoordinator } from "../../../src/coordination/memory.js";
import { redisCoordinator } from "../../../src/coordination/redis.js";
import { fsDatastore } from "../../../src/datastore/index.js";
import { ConfigError } from "../../../src/errors.js";
import { createMediaIdGenerator } from "../../../src/ids/index.js";
import { memoryMetadataStore } from "../../../src/metadata/memory.js";
import { createMediaRepository } from "../../../src/repository/index.js";
import { remoteLockName } from "../../../src/repository/remote.js";
import { startRedis } from "../../harness/redis.js";
import { tempDir } from "../../harness/tmp.js";
import {
  bodyOf,
  countingSource,
  gate,
  REMOTE,
  rejectsWith,
  repositoryOn,
  setup,
} from "./helpers.js";

const BYTES = Buffer.from("remote bytes ".repeat(10_000));
const SHA = createHash("sha256").update(BYTES).digest("hex");

async function text(body: { buffer?: Buffer; stream?: NodeJS.ReadableStream }): Promise<Buffer> {
  if (body.buffer) return body.buffer;
  const parts: Buffer[] = [];
  for await (const c of body.stream!) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe("remote media: fetched once", () => {
  it("without options.remote a foreign miss stays 404 and nothing is fetched", async () => {
    const { repo } = await setup(undefined);
    await rejectsWith(repo.lookup(REMOTE, "abc"), "M_NOT_FOUND", 404);
  });

  it("100 concurrent lookups in one repository call the source once", async () => {
    const held = gate();
    const source = countingSource(async () => {
      await held.promise;
      return bodyOf(BYTES, { contentType: "text/plain", filename: "a\u202Etxt.exe" });
    });
    const { repo, metadata } = await setup({ source });
    const lookups = Array.from({ length: 100 }, () => repo.lookup(REMOTE, "m100"));
    held.open();
    const records = await Promise.all(lookups);
    assert.equal(source.calls, 1);
    for (const r of records) assert.equal(r.sha256, SHA);
    const stored = await metadata.getMedia(REMOTE, "m100");
    assert.equal(stored?.kind, "remote");
    assert.equal(stored?.uploader, null);
    assert.equal(stored?.size, BYTES.length);
    assert.equal(stored?.contentType, "text/plain");
    assert.equal(stored?.filename, "atxt.exe", "bidi override removed");
    const got = await repo.download(REMOTE, "m100");
    assert.deepEqual(await text(got.body), BYTES);
    // Stored now: a later lookup reads metadata only.
    await repo.lookup(REMOTE, "m100");
    assert.equal(source.calls, 1);
  });

  it("allowRemote: false never fetches", async () => {
    const source = countingSource(async () => bodyOf(BYTES));
    const { repo } = await setup({ source });
    await rejectsWith(repo.lookup(REMOTE, "nofetch", { allowRemote: false }), "M_NOT_FOUND", 404);
    assert.equal(source.calls, 0);
    await repo.lookup(REMOTE, "nofetch");
    assert.equal(source.calls, 1);
    // Once stored it is served with allowRemote false too (it is local now).
    await repo.lookup(REMOTE, "nofetch", { allowRemote: false });
  });

  it("two repositories sharing a coordinator fetch once and serve the same bytes", async () => {
    const dir = await tempDir("mmk-remote-two-");
    const coordinator = memoryCoordinator();
    const metadata = memoryMetadataStore();
    const held = gate();
    const source = countingSource(async () => {
      await held.promise;
      return bodyOf(BYTES);
    });
    const root = path.join(dir.path, "media");
    const a = repositoryOn(root, metadata, 1, { source, coordinator });
    const b = repositoryOn(root, metadata, 2, { source, coordinator });
    try {
      const lookups = [
        ...Array.from({ length: 10 }, () => a.lookup(REMOTE, "shared")),
        ...Array.from({ length: 10 }, () => b.lookup(REMOTE, "shared")),
      ];
      held.open();
      const records = await Promise.all(lookups);
      assert.equal(source.calls, 1);
      assert.equal(new Set(records.map((r) => r.sha256)).size, 1);
      assert.equal(records[0]!.sha256, SHA);
      assert.deepEqual(await text((await b.download(REMOTE, "shared")).body), BYTES);
    } finally {
      await a.close();
      await b.close();
      await coordinator.close();
      await dir.cleanup();
    }
  });

  // Death needs a coordinator shared the way processes share one: real Redis, where a holder
  // whose connection is gone stops renewing and its lock expires after the TTL.
  it("a holder that died (never releases) blocks the others at most the lock TTL", async () => {
    const redis = await startRedis();
    const namespace = `mmk:test:${process.pid}:dead`;
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    const dying = redisCoordinator({ redis: client, namespace });
    const coordinator = redisCoordinator({ url: redis.url, namespace });
    const source = countingSource(async () => bodyOf(BYTES));
    const { repo } = await setup({ source, coordinator, lockTtlMs: 1_000 });
    try {
      // Another process took the lock and died: nobody will release or notify.
      const dead = await dying.tryLock(remoteLockName(REMOTE, "orphan"), 1_000);
      assert.ok(dead && !dead.local, "the dead holder held the lock in Redis");
      client.disconnect(false);
      const started = performance.now();
      const record = await repo.lookup(REMOTE, "orphan");
      const waited = performance.now() - started;
      assert.equal(record.sha256, SHA);
      assert.equal(source.calls, 1);
      assert.ok(waited < 15_000, `took over within a generous bound of the TTL (${waited} ms)`);
    } finally {
      await repo.close();
      await dying.close();
      await coordinator.close();
      await redis.close();
    }
  });

  it("a holder that loses its lock mid-download aborts, records nothing; another takes over", async () => {
    const redis = await startRedis();
    const namespace = `mmk:test:${process.pid}:lost`;
    const dir = await tempDir("mmk-remote-lost-");
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    const coordA = redisCoordinator({ redis: client, namespace });
    const coordB = redisCoordinator({ url: redis.url, namespace });
    const metadata = memoryMetadataStore();
    // A's source answers headers, then stalls on the body (and ignores the signal).
    const stalled = countingSource(async () => ({
      contentLength: BYTES.length,
      stream: (async function* () {
        yield BYTES.subarray(0, 10);
        await new Promise(() => undefined);
      })(),
    }));
    const good = countingSource(async () => bodyOf(BYTES));
    const root = path.join(dir.path, "media");
    const remote = { lockTtlMs: 1_000, timeoutMs: 30_000 };
    const a = repositoryOn(root, metadata, 1, { ...remote, coordinator: coordA, source: stalled });
    const b = repositoryOn(root, metadata, 2, { ...remote, coordinator: coordB, source: good });
    try {
      const first = a.lookup(REMOTE, "lost");
      while (stalled.calls === 0) await new Promise((r) => setTimeout(r, 10));
      const second = b.lookup(REMOTE, "lost");
      // A's Redis connection goes away: its renewals fail and it must give the lock up.
      client.disconnect(false);
      await rejectsWith(first, "M_UNKNOWN", 502, /Lost the lock/);
      assert.ok(stalled.signals[0]!.aborted, "A's download was aborted");
      const record = await second;
      assert.equal(record.sha256, SHA);
      assert.equal(good.calls, 1);
      assert.equal((await metadata.getMedia(REMOTE, "lost"))?.sha256, SHA);
    } finally {
      await a.close();
      await b.close();
      await coordA.close();
      await coordB.close();
      await redis.close();
      await dir.cleanup();
    }
  });

  it("refuses invalid remote options with a ConfigError naming the option", async () => {
    const source = countingSource(async () => bodyOf(BYTES));
    const base = {
      serverName: "example.org",
      ids: createMediaIdGenerator({ machineId: 1 }),
      datastore: fsDatastore({ root: "/nonexistent-never-written" }),
      metadata: memoryMetadataStore(),
    };
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ source, timeoutMs: 60_001 }, /remote\.timeoutMs.*1–60000.*60001/],
      [{ source, timeoutMs: 0 }, /remote\.timeoutMs/],
      [{ source, lockTtlMs: 1.5 }, /remote\.lockTtlMs/],
      [{ source, maxConcurrentPerOrigin: 0 }, /remote\.maxConcurrentPerOrigin/],
      [{ source, maxBytes: -1 }, /remote\.maxBytes/],
      [{ source, failureBackoffMs: 10, maxFailureBackoffMs: 5 }, /remote\.maxFailureBackoffMs/],
      [{ source, bogus: 1 }, /remote\.bogus/],
      [{ source: {} }, /remote\.source/],
    ];
    for (const [remote, message] of bad) {
      assert.throws(
        () => createMediaRepository({ ...base, remote: remote as never }),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        JSON.stringify(remote),
      );
    }
  });
});
