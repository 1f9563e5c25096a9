// The repository flows over the PostgreSQL metadata store (a real, throwaway database), the
// fs datastore and a tiered memory cache, as the standalone server runs them in production.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { memoryCache } from "../../src/cache/memory.js";
import { tieredCache } from "../../src/cache/tiered.js";
import { fsDatastore } from "../../src/datastore/index.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { postgresMetadataStore } from "../../src/metadata/postgres.js";
import { createThumbnailer } from "../../src/thumbnail/index.js";
import {
  blobCacheKey,
  createMediaRepository,
  type MediaRepository,
} from "../../src/repository/index.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";
import { tempDir } from "../harness/tmp.js";

const ALICE = "@alice:example.org";

async function text(body: { buffer?: Buffer; stream?: NodeJS.ReadableStream }): Promise<string> {
  if (body.buffer) return body.buffer.toString();
  const parts: Buffer[] = [];
  for await (const c of body.stream!) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

describe("createMediaRepository over PostgreSQL metadata", () => {
  let db: TestDatabase;
  let repo: MediaRepository;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const l1 = memoryCache({ maxBytes: 8 * 1024 * 1024 });
  const l2 = memoryCache({ maxBytes: 8 * 1024 * 1024 });
  before(async () => {
    db = await createTestDatabase();
    dir = await tempDir("mmk-repo-pg-");
    const metadata = postgresMetadataStore({ pool: db.pool });
    await metadata.migrate();
    repo = createMediaRepository({
      serverName: "example.org",
      ids: createMediaIdGenerator({ machineId: 9 }),
      datastore: fsDatastore({ root: path.join(dir.path, "media"), fsync: false }),
      metadata,
      cache: tieredCache([l1, l2]),
      thumbnailer: createThumbnailer(),
      limits: { touchIntervalMs: 0 },
    });
  });
  after(async () => {
    await repo.close();
    await db.drop();
    await dir.cleanup();
  });

  it("uploads, dedups, serves, thumbnails, quarantines and deletes", async () => {
    const png = await sharp({
      create: { width: 600, height: 400, channels: 3, background: "#3a7" },
    })
      .png()
      .toBuffer();
    const a = await repo.upload(png, {
      uploader: ALICE,
      contentType: "image/png",
      filename: "a.png",
    });
    const b = await repo.upload(png, { uploader: ALICE, contentType: "image/png" });
    assert.equal(a.record.location, b.record.location);
    await repo.whenIdle();
    const thumb = await repo.thumbnail("example.org", a.record.mediaId, {
      width: 32,
      height: 32,
      method: "scale",
    });
    assert.ok(thumb.width >= 32 && thumb.height >= 32);
    const got = await repo.download("example.org", a.record.mediaId);
    assert.equal(got.record.filename, "a.png");
    assert.ok(await l2.get(blobCacheKey(a.record.sha256)));

    assert.deepEqual(
      await repo.quarantine({ mxc: { origin: "example.org", mediaId: a.record.mediaId } }),
      {
        affected: 2,
      },
    );
    await assert.rejects(repo.download("example.org", b.record.mediaId), {
      errcode: "M_NOT_FOUND",
    });
    await assert.rejects(
      repo.thumbnail("example.org", a.record.mediaId, { width: 32, height: 32 }),
      { errcode: "M_NOT_FOUND" },
    );
    assert.equal(await l1.get(blobCacheKey(a.record.sha256)), undefined);
    assert.equal(await l2.get(blobCacheKey(a.record.sha256)), undefined);
    await repo.quarantine({ sha256: a.record.sha256 }, false);
    assert.equal(await repo.delete("example.org", a.record.mediaId), true);
    assert.equal(await repo.delete("example.org", a.record.mediaId), false);
    assert.ok((await repo.download("example.org", b.record.mediaId)).body);
  });

  it("completes an async upload once and wakes a waiter", async () => {
    const { mxc } = await repo.createPending(ALICE);
    const mediaId = mxc.split("/").pop()!;
    await assert.rejects(repo.lookup("example.org", mediaId, { timeoutMs: 10 }), {
      errcode: "M_NOT_YET_UPLOADED",
    });
    const waiter = repo.download("example.org", mediaId, { timeoutMs: 30_000 });
    await repo.uploadPending("example.org", mediaId, Buffer.from("later"), { uploader: ALICE });
    assert.equal(await text((await waiter).body), "later");
    await assert.rejects(
      repo.uploadPending("example.org", mediaId, Buffer.from("again"), { uploader: ALICE }),
      { errcode: "M_CANNOT_OVERWRITE_MEDIA" },
    );
  });
});
