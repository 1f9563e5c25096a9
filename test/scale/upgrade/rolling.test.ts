// Rolling upgrade: metadata migrations only add, so version N keeps running on a schema that
// version N+1 extended. Two standalone servers share one PostgreSQL database; between their
// starts the "next version" applies one more additive migration and records it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { postgresMetadataStore } from "../../../src/metadata/index.js";
import { migrations } from "../../../src/metadata/postgres/migrations.js";
import type { MediaServer } from "../../../src/server/index.js";
import { createTestDatabase, type TestDatabase } from "../../harness/postgres.js";
import { tempDir } from "../../harness/tmp.js";
import {
  ALICE,
  quiet,
  req,
  resolveConfig,
  startServer,
  uploadMedia,
} from "../../server/helpers.js";

const OWN_LATEST = migrations('"public"').at(-1)!.version;

/** What a next version's migration could be: a new column and a new table, nothing dropped. */
async function applyNextVersion(db: TestDatabase): Promise<number> {
  const next = OWN_LATEST + 1;
  await db.pool.query("BEGIN");
  await db.pool.query("ALTER TABLE public.mmk_media ADD COLUMN future_col text");
  await db.pool.query(
    "CREATE TABLE public.mmk_future (origin text NOT NULL, media_id text NOT NULL, note text)",
  );
  await db.pool.query({
    text: "INSERT INTO public.mmk_migrations (version, name) VALUES ($1, $2)",
    values: [next, "future column and table"],
  });
  await db.pool.query("COMMIT");
  return next;
}

function download(base: string, mxc: string) {
  return req(base, `/_matrix/client/v1/media/download/${mxc}`, { token: ALICE });
}

describe("rolling upgrade over one PostgreSQL schema", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: TestDatabase;
  const servers: MediaServer[] = [];
  const config = () =>
    resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0 },
        datastores: [{ id: "shared", type: "fs", kinds: ["local", "thumbnail"], root: "shared" }],
        metadata: { postgres: db.url },
        auth: { tokens: { [ALICE]: "@alice:media.test" } },
        thumbnails: { enabled: false },
      },
      { MACHINE_ID: String(servers.length + 1) },
      dir.path,
    );

  before(async () => {
    dir = await tempDir("mmk-upgrade-");
    db = await createTestDatabase();
  });
  after(async () => {
    for (const s of servers) await s.close();
    await db?.drop();
    await dir?.cleanup();
  });

  it("a server of this version starts on a schema one additive migration ahead", async () => {
    const before = await startServer(config(), quiet);
    servers.push(before);
    const early = await uploadMedia(before.url, ALICE, "written before the upgrade");

    const next = await applyNextVersion(db);
    const { rows } = await db.pool.query<{ version: number }>(
      "SELECT version FROM public.mmk_migrations ORDER BY version",
    );
    assert.deepEqual(
      rows.map((r) => r.version),
      [...Array.from({ length: OWN_LATEST }, (_, i) => i + 1), next],
    );

    const warned = new Promise<Error & { code?: string }>((resolve) =>
      process.once("warning", resolve),
    );
    const afterUpgrade = await startServer(config(), quiet);
    servers.push(afterUpgrade);
    const warning = await warned;
    assert.equal(warning.code, "MMK_SCHEMA_NEWER");
    assert.match(
      warning.message,
      new RegExp(`version ${next}, newer than .* knows \\(${OWN_LATEST}\\)`),
    );

    // Each reads what the other wrote, and the server started first still writes.
    const late = await uploadMedia(afterUpgrade.url, ALICE, "written after the upgrade");
    const alsoEarly = await uploadMedia(before.url, ALICE, "written by the old one later");
    assert.equal(
      (await download(afterUpgrade.url, early)).body.toString(),
      "written before the upgrade",
    );
    assert.equal((await download(before.url, late)).body.toString(), "written after the upgrade");
    const old = await download(afterUpgrade.url, alsoEarly);
    assert.equal(old.status, 200);
    assert.equal(old.body.toString(), "written by the old one later");

    // The next version's column is there, untouched by this version's writes (NULL).
    const media = await db.pool.query<{ future_col: string | null }>(
      "SELECT future_col FROM public.mmk_media ORDER BY created_at",
    );
    assert.equal(media.rows.length, 3);
    assert.ok(media.rows.every((r) => r.future_col === null));
  });

  it("a store of this version migrates nothing and serves records on the newer schema", async () => {
    const store = postgresMetadataStore({ pool: db.pool });
    const warned = new Promise<Error>((resolve) => process.once("warning", resolve));
    const result = await store.migrate();
    await warned;
    assert.deepEqual(result.applied, []);
    assert.equal(result.version, OWN_LATEST + 1);
    const page = await store.listMediaByUploader("@alice:media.test", { limit: 10 });
    assert.equal(page.items.length, 3);
    await store.close();
  });

  it("refuses a newer schema that lacks one of this version's own migrations", async () => {
    await db.pool.query({
      text: "DELETE FROM public.mmk_migrations WHERE version = $1",
      values: [OWN_LATEST],
    });
    try {
      const store = postgresMetadataStore({ pool: db.pool });
      await assert.rejects(
        store.migrate(),
        new RegExp(`newer than .* but lacks its migrations ${OWN_LATEST}; refusing`),
      );
    } finally {
      await db.pool.query({
        text: "INSERT INTO public.mmk_migrations (version, name) VALUES ($1, 'restored')",
        values: [OWN_LATEST],
      });
    }
  });

  // An older process that knows only the first K of this version's migrations cannot be built
  // cheaply: `migrations()` is one fixed list with no option to stop early, and this version has
  // a single migration (K would be 0). The server started before the extra migration above is
  // that older process: it keeps uploading and serving after the newer schema is in place.
});
