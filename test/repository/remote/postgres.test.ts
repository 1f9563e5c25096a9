// Two repositories without a shared coordinator (each its own memoryCoordinator, as two
// processes without Redis) over one PostgreSQL database and one fs root: both fetch the same
// remote media at once, one insert wins, the other serves the winner's record — no error
// (the duplicate-key failure matrix-media-repo had, issue #615).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { postgresMetadataStore } from "../../../src/metadata/postgres.js";
import type { MediaRepository } from "../../../src/repository/index.js";
import { createTestDatabase, type TestDatabase } from "../../harness/postgres.js";
import { tempDir } from "../../harness/tmp.js";
import { bodyOf, countingSource, files, REMOTE, repositoryOn } from "./helpers.js";

const ROUNDS = 5;

describe("remote media: duplicate insert race on PostgreSQL", () => {
  let db: TestDatabase;
  let secondPool: pg.Pool;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let repos: MediaRepository[];
  const waiting: Array<() => void> = [];
  let arrived = 0;
  // Each media is answered only once both repositories asked for it: both really fetch.
  const source = countingSource(async (_origin, mediaId) => {
    arrived++;
    if (arrived % 2 === 1) await new Promise<void>((resolve) => waiting.push(resolve));
    else waiting.shift()?.();
    return bodyOf(Buffer.from(`bytes of ${mediaId} `.repeat(5000)));
  });

  before(async () => {
    db = await createTestDatabase();
    secondPool = new pg.Pool({ connectionString: db.url, max: 5 });
    // DROP ... WITH (FORCE) terminates connections still closing; that is expected.
    secondPool.on("error", () => undefined);
    dir = await tempDir("mmk-remote-pg-");
    const root = path.join(dir.path, "media");
    const stores = [
      postgresMetadataStore({ pool: db.pool }),
      postgresMetadataStore({ pool: secondPool }),
    ];
    await stores[0]!.migrate();
    repos = stores.map((metadata, i) => repositoryOn(root, metadata, 10 + i, { source }));
  });
  after(async () => {
    for (const repo of repos) await repo.close();
    await secondPool.end();
    await db.drop();
    await dir.cleanup();
  });

  it("both lookups succeed with one record; the loser serves the winner's", async () => {
    const outcomes: string[] = [];
    const onMessage = (message: unknown): void => {
      outcomes.push((message as { outcome: string }).outcome);
    };
    subscribe("matrix-media-kit:repository:remote", onMessage);
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const mediaId = `race${round}`;
        const [a, b] = await Promise.all(repos.map((repo) => repo.lookup(REMOTE, mediaId)));
        assert.deepEqual(a, b);
        const expected = Buffer.from(`bytes of ${mediaId} `.repeat(5000));
        assert.equal(a!.sha256, createHash("sha256").update(expected).digest("hex"));
        const rows = await db.pool.query(
          "SELECT count(*)::int AS n FROM mmk_media WHERE origin = $1 AND media_id = $2",
          [REMOTE, mediaId],
        );
        assert.equal(rows.rows[0].n, 1);
      }
    } finally {
      unsubscribe("matrix-media-kit:repository:remote", onMessage);
    }
    assert.equal(source.calls, 2 * ROUNDS, "both repositories fetched every media");
    assert.equal(outcomes.filter((o) => o === "stored").length, ROUNDS);
    assert.equal(outcomes.filter((o) => o === "duplicate").length, ROUNDS);
    // The loser's blob is the winner's (content-addressed): kept, one per media, no temp files.
    assert.equal((await files(path.join(dir.path, "media"))).length, ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      const { body } = await repos[1]!.download(REMOTE, `race${round}`);
      assert.ok(body.stream || body.buffer);
      body.stream?.destroy();
    }
  });
});
