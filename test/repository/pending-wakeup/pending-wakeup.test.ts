// Two repositories over one PostgreSQL metadata store, each with its own Redis coordinator:
// a download of an asynchronous upload waiting in one is woken by the completion in the
// other, without polling its way there.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  memoryCoordinator,
  redisCoordinator,
  type SharedCoordinator,
} from "../../../src/coordination/index.js";
import { fsDatastore } from "../../../src/datastore/index.js";
import { MediaError } from "../../../src/errors.js";
import { createMediaIdGenerator } from "../../../src/ids/index.js";
import type { MetadataStore } from "../../../src/metadata/index.js";
import { postgresMetadataStore } from "../../../src/metadata/postgres.js";
import { parseMxc } from "../../../src/mxc.js";
import {
  createMediaRepository,
  DEFAULT_REPOSITORY_LIMITS,
  type MediaRepository,
} from "../../../src/repository/index.js";
import { createTestDatabase, type TestDatabase } from "../../harness/postgres.js";
import { startRedis, type RedisProcess } from "../../harness/redis.js";
import { tempDir } from "../../harness/tmp.js";

const ALICE = "@alice:example.org";
/** Far longer than the test may take: reaching the record by polling would time it out. */
const POLL_MS = 45_000;

async function text(body: { buffer?: Buffer; stream?: NodeJS.ReadableStream }): Promise<string> {
  if (body.buffer) return body.buffer.toString();
  const parts: Buffer[] = [];
  for await (const c of body.stream!) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

/** A metadata store that counts `getMedia` and reports each miss. */
function counting(store: MetadataStore) {
  const counts = { getMedia: 0 };
  let onMiss: (() => void) | undefined;
  const wrapped: MetadataStore = Object.assign(Object.create(store) as MetadataStore, {
    async getMedia(...args: Parameters<MetadataStore["getMedia"]>) {
      counts.getMedia++;
      const record = await store.getMedia(...args);
      if (!record) onMiss?.();
      return record;
    },
  });
  const misses = (n: number): Promise<void> =>
    new Promise((resolve) => {
      let seen = 0;
      onMiss = () => {
        if (++seen === n) resolve();
      };
    });
  return { wrapped, counts, misses };
}

describe("pending uploads woken across processes", () => {
  let db: TestDatabase;
  let redis: RedisProcess;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let coordA: SharedCoordinator;
  let coordB: SharedCoordinator;
  let repoA: MediaRepository;
  let repoB: MediaRepository;
  let metaA: ReturnType<typeof counting>;

  before(async () => {
    [db, redis, dir] = await Promise.all([
      createTestDatabase(),
      startRedis(),
      tempDir("mmk-pending-"),
    ]);
    const metadata = postgresMetadataStore({ pool: db.pool });
    await metadata.migrate();
    metaA = counting(metadata);
    coordA = redisCoordinator({ url: redis.url });
    coordB = redisCoordinator({ url: redis.url });
    await Promise.all([coordA.connect(), coordB.connect()]);
    const datastore = fsDatastore({ root: path.join(dir.path, "media"), fsync: false });
    const common = { serverName: "example.org", datastore, limits: { touchIntervalMs: 0 } };
    repoA = createMediaRepository({
      ...common,
      ids: createMediaIdGenerator({ machineId: 1 }),
      metadata: metaA.wrapped,
      coordinator: coordA,
      limits: { ...common.limits, pendingPollMs: POLL_MS },
    });
    repoB = createMediaRepository({
      ...common,
      ids: createMediaIdGenerator({ machineId: 2 }),
      metadata,
      coordinator: coordB,
    });
  });
  after(async () => {
    await Promise.all([repoA?.close(), repoB?.close()]);
    await Promise.all([coordA?.close(), coordB?.close()]);
    await Promise.all([db?.drop(), redis?.close(), dir?.cleanup()]);
  });

  it("answers a download waiting on A once B completes the upload", async () => {
    const { mxc } = await repoB.createPending(ALICE);
    const { origin, mediaId } = parseMxc(mxc);
    // The lookup's own miss, then the wait's first read: A is subscribed and waiting.
    const waiting = metaA.misses(2);
    const started = performance.now();
    const download = repoA.download(origin, mediaId, { timeoutMs: 50_000 });
    await waiting;
    const readsBefore = metaA.counts.getMedia;
    await repoB.uploadPending(origin, mediaId, Buffer.from("late bytes"), {
      contentType: "text/plain",
      uploader: ALICE,
    });
    const { record, body } = await download;
    const elapsed = performance.now() - started;
    assert.equal(record.mediaId, mediaId);
    assert.equal(await text(body), "late bytes");
    // One read after the wake-up, not a poll every few hundred ms.
    assert.ok(
      metaA.counts.getMedia - readsBefore <= 2,
      `reads after the upload: ${metaA.counts.getMedia - readsBefore}`,
    );
    // Generous bound, far below the 45 s poll the wait would otherwise have needed.
    assert.ok(elapsed < POLL_MS / 2, `waited ${Math.round(elapsed)} ms`);
  });

  it("still answers M_NOT_YET_UPLOADED at the deadline", async () => {
    const { mxc } = await repoB.createPending(ALICE);
    const { origin, mediaId } = parseMxc(mxc);
    await assert.rejects(
      repoA.download(origin, mediaId, { timeoutMs: 300 }),
      (err: unknown) => err instanceof MediaError && err.errcode === "M_NOT_YET_UPLOADED",
    );
  });
});

describe("pending poll interval", () => {
  const base = () => ({
    serverName: "example.org",
    ids: createMediaIdGenerator({ machineId: 3 }),
    datastore: { id: "none" } as never,
    metadata: { getMedia: () => undefined } as unknown as MetadataStore,
    limits: { sweepIntervalMs: 0, touchIntervalMs: 0 },
  });

  it("is 500 ms in one process and 2 s with a shared coordinator", async () => {
    const local = createMediaRepository({ ...base(), coordinator: memoryCoordinator() });
    const alone = createMediaRepository(base());
    const coordinator = redisCoordinator({ url: "redis://127.0.0.1:1" });
    const shared = createMediaRepository({ ...base(), coordinator });
    assert.equal(local.limits.pendingPollMs, 500);
    assert.equal(alone.limits.pendingPollMs, 500);
    assert.equal(shared.limits.pendingPollMs, DEFAULT_REPOSITORY_LIMITS.pendingPollMs);
    assert.equal(DEFAULT_REPOSITORY_LIMITS.pendingPollMs, 2_000);
    await Promise.all([local.close(), alone.close(), shared.close(), coordinator.close()]);
  });

  it("refuses a zero poll and a coordinator that is not one", () => {
    assert.throws(
      () => createMediaRepository({ ...base(), limits: { pendingPollMs: 0 } }),
      /limits\.pendingPollMs/,
    );
    assert.throws(
      () => createMediaRepository({ ...base(), coordinator: {} as never }),
      /options\.coordinator/,
    );
  });
});
