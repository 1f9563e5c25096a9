// The size bound of a cachedDatastore's local copy when another process writes into the same
// directory: `trim()` (and the background job over it) adopts the copies it did not write,
// deletes past maxBytes, forgets copies deleted behind its back, and reports its size.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, describe, it } from "node:test";
import { memoryCoordinator } from "../../src/coordination/index.js";
import { cachedDatastore, fsDatastore, type Datastore } from "../../src/datastore/index.js";
import {
  cacheTrimJob,
  createBackgroundJobs,
  createLeaderElection,
  type JobRun,
} from "../../src/scale/index.js";
import { eventually } from "../../src/testing/eventually.js";
import { tempDir } from "../harness/tmp.js";

async function read(store: Datastore, key: string): Promise<number> {
  let bytes = 0;
  for await (const chunk of (await store.get(key)).stream as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
  }
  return bytes;
}

async function files(store: Datastore): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of store.list!()) keys.push(e.key);
  return keys.sort();
}

describe("cachedDatastore trim", () => {
  const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = [];
  const newDir = async () => {
    const d = await tempDir("mmk-cache-trim-");
    dirs.push(d);
    return d.path;
  };
  after(async () => {
    for (const d of dirs) await d.cleanup();
  });

  it("deletes copies another process wrote past maxBytes, at most batchSize per run", async () => {
    const origin = fsDatastore({ id: "origin", root: await newDir() });
    const shared = await newDir();
    const mine = cachedDatastore({
      origin,
      local: fsDatastore({ id: "c1", root: shared }),
      maxBytes: 100,
    });
    const theirs = cachedDatastore({
      origin,
      local: fsDatastore({ id: "c2", root: shared }),
      maxBytes: 100,
    });
    const keys = [];
    for (const fill of [1, 2, 3]) keys.push((await origin.put(Buffer.alloc(40, fill))).key);
    await theirs.ready(); // each process indexed the empty directory at its start
    assert.equal(await read(mine, keys[0]!), 40);
    assert.equal(await read(mine, keys[1]!), 40);
    assert.equal(await read(theirs, keys[2]!), 40);
    const local = fsDatastore({ id: "view", root: shared });
    assert.equal((await files(local)).length, 3, "120 bytes in a directory bounded to 100");

    const first = await mine.trim({ limit: 1 });
    assert.equal(first.scanned, 3);
    assert.equal(first.adopted, 1);
    assert.equal(first.evicted, 1);
    assert.equal(first.bytes, 80);
    assert.equal((await files(local)).length, 2);
    assert.equal(await local.head(keys[0]!), undefined, "the least recently used copy went first");

    await local.delete(keys[1]!);
    const second = await mine.trim();
    assert.equal(second.forgotten, 1);
    assert.equal(second.bytes, 40);
    assert.equal(mine.stats().entries, 1);
    assert.equal(await read(mine, keys[1]!), 40, "a forgotten copy is read from the origin again");
  });

  it("runs as a leader job with a log line and a diagnostics message per run", async () => {
    const origin = fsDatastore({ id: "origin", root: await newDir() });
    const store = cachedDatastore({
      origin,
      local: fsDatastore({ id: "c", root: await newDir() }),
      maxBytes: 100,
    });
    const { key } = await origin.put(Buffer.alloc(30, 7));
    await read(store, key);
    const runs: JobRun[] = [];
    const logged: string[] = [];
    const onRun = (message: unknown) => runs.push(message as JobRun);
    subscribe("matrix-media-kit:scale:job", onRun);
    const leader = createLeaderElection({ coordinator: memoryCoordinator() });
    const logger = {
      warn: () => undefined,
      error: () => undefined,
      info: (m: string) => void logged.push(m),
    };
    const jobs = createBackgroundJobs({
      leader,
      jobs: [cacheTrimJob(store, { intervalMs: 60_000 })],
      logger,
    });
    try {
      leader.start();
      const run = await eventually("a cacheTrim run", 10_000, async () =>
        runs.find((r) => r.name === "cacheTrim"),
      );
      assert.equal(run.outcome, "ok");
      assert.equal(run.counts.bytes, 30);
      assert.ok(logged.includes("background job ran"));
      assert.throws(() => cacheTrimJob(store, { batchSize: 0 }), /batchSize/);
    } finally {
      unsubscribe("matrix-media-kit:scale:job", onRun);
      await leader.stop();
      await jobs.stop();
    }
  });
});
