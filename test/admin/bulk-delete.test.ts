// Bulk deletes stopped mid-way (an injected failure, a SIGKILL) leave no record without its
// blob, and running them again finishes the work.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fsDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore, postgresMetadataStore } from "../../src/metadata/index.js";
import type { MetadataStore } from "../../src/metadata/types.js";
import { createMediaRepository, type MediaRepository } from "../../src/repository/index.js";
import { eventually } from "../../src/testing/eventually.js";
import { request } from "../http/fixture.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";
import { tempDir } from "../harness/tmp.js";
import { ADMIN, createAdminFixture, keysOf, seed } from "./fixture.js";

const alice = "@alice:test.local";
const CHILD = path.join(import.meta.dirname, "fixtures", "bulk-delete-child.ts");

/** Every record of `uploader` has its blob; returns the blobs no record references. */
async function checkConsistent(
  repo: MediaRepository,
  metadata: MetadataStore,
  datastore: Datastore,
): Promise<{ records: number; orphans: number }> {
  const referenced = new Set<string>();
  let records = 0;
  for await (const record of repo.admin.uploads(alice)) {
    records++;
    referenced.add(record.location);
    assert.ok(await datastore.head(record.location), `the blob of ${record.mediaId} is there`);
    assert.ok(await metadata.getMedia(record.origin, record.mediaId));
  }
  const orphans = (await keysOf(datastore)).filter((key) => !referenced.has(key)).length;
  return { records, orphans };
}

describe("resumable bulk deletes", () => {
  it("a failure mid-batch leaves every remaining record with its blob; the same request again finishes", async () => {
    const real = memoryMetadataStore();
    let deletes = 0;
    let failAt = 7;
    const flaky = new Proxy(real, {
      get(target, p, receiver) {
        if (p !== "deleteMedia") return Reflect.get(target, p, receiver) as unknown;
        return async (origin: string, mediaId: string) => {
          if (++deletes === failAt) throw new Error("injected metadata failure");
          return target.deleteMedia(origin, mediaId);
        };
      },
    });
    const f = await createAdminFixture(flaky);
    try {
      await seed(f.repo, alice, 20);
      const path = `/_synapse/admin/v1/users/${encodeURIComponent(alice)}/media`;
      const failed = await request(f.baseUrl, "DELETE", path, { token: ADMIN });
      assert.equal(failed.status, 500);
      const mid = await checkConsistent(f.repo, real, f.datastore);
      assert.equal(mid.records, 14, "6 deleted before the failure");
      assert.equal(mid.orphans, 0, "each deleted record took its blob with it");
      failAt = -1;
      const again = await request(f.baseUrl, "DELETE", path, { token: ADMIN });
      assert.equal(again.status, 200);
      assert.equal(again.json().total, 14);
      assert.deepEqual(await checkConsistent(f.repo, real, f.datastore), {
        records: 0,
        orphans: 0,
      });
    } finally {
      await f.close();
    }
  });

  describe("killed with SIGKILL", () => {
    let db: TestDatabase;
    before(async () => {
      db = await createTestDatabase();
    });
    after(() => db.drop());

    it("a process killed mid-way leaves no record without a blob; a second run finishes", async () => {
      const dir = await tempDir("mmk-bulk-");
      const root = path.join(dir.path, "media");
      const metadata = postgresMetadataStore({ pool: db.pool, schema: "bulk" });
      const datastore = fsDatastore({ root, fsync: false });
      const repo = createMediaRepository({
        serverName: "test.local",
        ids: createMediaIdGenerator({ machineId: 4 }),
        datastore,
        metadata,
      });
      try {
        await seed(repo, alice, 150);
        const child = spawn(process.execPath, ["--import", "tsx", CHILD, db.url, "bulk", root], {
          cwd: path.resolve(import.meta.dirname, "../.."),
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
        child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
        const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
          child.on("exit", (code, signal) => resolve(signal ?? code)),
        );
        await eventually("the child to delete 30 blobs", 60_000, async () => {
          if (child.exitCode !== null) assert.fail(`child exited early: ${err}`);
          return out.split("\n").filter((l) => l.startsWith("deleted ")).length >= 30
            ? true
            : undefined;
        });
        child.kill("SIGKILL");
        assert.equal(await exited, "SIGKILL");
        assert.ok(!out.includes("done"), "killed before it finished");
        const mid = await checkConsistent(repo, metadata, datastore);
        assert.ok(mid.records > 0 && mid.records <= 120, `${mid.records} records left`);
        // At most the one record whose blob delete was cut short leaves an orphan for the GC.
        assert.ok(mid.orphans <= 1, `${mid.orphans} orphans`);
        const { deleted } = await repo.admin.expireLocal({ before: Number.MAX_SAFE_INTEGER });
        assert.equal(deleted.length, mid.records);
        const end = await checkConsistent(repo, metadata, datastore);
        assert.equal(end.records, 0);
        assert.equal(end.orphans, mid.orphans);
      } finally {
        await repo.close();
        await dir.cleanup();
      }
    });
  });
});
