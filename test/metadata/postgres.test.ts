// PostgreSQL-specific behaviour: versioned migrations under an advisory lock (raced by two
// real processes), lazy migration, index use, option validation.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { MediaError } from "../../src/errors.js";
import { postgresMetadataStore, type PgPoolLike } from "../../src/metadata/index.js";
import { migrationLockKey } from "../../src/metadata/postgres.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";
import { startChild } from "./race.js";
import { ConfigError } from "../../src/errors.js";

const configError = (pattern: RegExp) => (err: unknown) =>
  err instanceof ConfigError && pattern.test(err.message);

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
  db.pool.on("error", () => {});
});
after(() => db.drop());

async function migrationRows(schema: string): Promise<number[]> {
  const { rows } = await db.pool.query<{ version: number }>(
    `SELECT version FROM "${schema}".mmk_migrations ORDER BY version`,
  );
  return rows.map((r) => r.version);
}

async function waitersOn(schema: string): Promise<number> {
  const [k1, k2] = migrationLockKey(schema);
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks
     WHERE locktype = 'advisory' AND NOT granted AND classid = ($1::int)::oid AND objid = ($2::int)::oid AND objsubid = 2`,
    [k1, k2],
  );
  return rows[0]!.n;
}

describe("postgresMetadataStore migrations", () => {
  it("accepts a pg.Pool as its pool (type-level and at runtime)", async () => {
    const pool: PgPoolLike = db.pool satisfies pg.Pool;
    const store = postgresMetadataStore({ pool, schema: "typed" });
    assert.equal(store.schema, "typed");
    assert.deepEqual(await store.migrate(), { applied: [1, 2], version: 2 });
  });

  it("two processes migrating at once: exactly one applies, both then work", async () => {
    const schema = "race_held";
    // Hold the migration lock so both children are provably inside migrate() together.
    const holder = await db.pool.connect();
    const [k1, k2] = migrationLockKey(schema);
    await holder.query("SELECT pg_advisory_lock($1, $2)", [k1, k2]);
    const children = [0, 1].map(() => startChild(["postgres", db.url, schema]));
    try {
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.go();
      for (let i = 0; (await waitersOn(schema)) < 2; i++) {
        assert.ok(i < 600, "both children should block on the migration lock");
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await holder.query("SELECT pg_advisory_unlock($1, $2)", [k1, k2]);
      holder.release();
    }
    const outcomes = await Promise.all(children.map((c) => c.outcome));
    assert.deepEqual(outcomes.map((o) => o.result.applied).sort(), [[], [1, 2]]);
    for (const o of outcomes) {
      assert.equal(o.result.version, 2);
      assert.equal(o.worked, true);
    }
    assert.deepEqual(await migrationRows(schema), [1, 2]);
    const store = postgresMetadataStore({ pool: db.pool, schema });
    for (const o of outcomes) assert.ok(await store.getMedia("example.org", o.mediaId));
    assert.deepEqual(await store.getUsage("@race:example.org"), { bytes: 10, count: 2 });
  });

  it("two processes started together with no lock held: one applies, both work", async () => {
    const schema = "race_free";
    const children = [0, 1].map(() => startChild(["postgres", db.url, schema]));
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const outcomes = await Promise.all(children.map((c) => c.outcome));
    assert.deepEqual(outcomes.map((o) => o.result.applied).sort(), [[], [1, 2]]);
    assert.ok(outcomes.every((o) => o.worked));
    assert.deepEqual(await migrationRows(schema), [1, 2]);
  });

  it("is idempotent and versioned", async () => {
    const a = postgresMetadataStore({ pool: db.pool, schema: "idem" });
    assert.deepEqual(await a.migrate(), { applied: [1, 2], version: 2 });
    assert.deepEqual(await a.migrate(), { applied: [1, 2], version: 2 }, "memoised per store");
    const b = postgresMetadataStore({ pool: db.pool, schema: "idem" });
    assert.deepEqual(await b.migrate(), { applied: [], version: 2 });
    assert.deepEqual(await migrationRows("idem"), [1, 2]);
  });

  it("runs migrations before the first operation when migrate() was not called", async () => {
    const store = postgresMetadataStore({ pool: db.pool, schema: "lazy" });
    const results = await Promise.all([store.getUsage("@a:example.org"), store.getMedia("x", "y")]);
    assert.deepEqual(results, [{ bytes: 0, count: 0 }, undefined]);
    assert.deepEqual(await migrationRows("lazy"), [1, 2]);
  });

  it("runs, with a warning, on a newer schema that holds all of its migrations", async () => {
    const store = postgresMetadataStore({ pool: db.pool, schema: "future" });
    await store.migrate();
    await db.pool.query(
      `INSERT INTO "future".mmk_migrations (version, name) VALUES (99, 'from the future')`,
    );
    const warned = new Promise<Error>((resolve) => process.once("warning", resolve));
    const again = postgresMetadataStore({ pool: db.pool, schema: "future" });
    assert.deepEqual(await again.migrate(), { applied: [], version: 99 });
    const warning = (await warned) as Error & { code?: string };
    assert.equal(warning.code, "MMK_SCHEMA_NEWER");
    assert.match(warning.message, /version 99, newer than this matrix-media-kit knows/);
    assert.deepEqual(await again.getUsage("@a:example.org"), { bytes: 0, count: 0 });
  });

  it("refuses a newer schema that lacks one of its migrations", async () => {
    await db.pool.query(`CREATE SCHEMA "gap"`);
    await db.pool.query(
      `CREATE TABLE "gap".mmk_migrations (version integer PRIMARY KEY, name text NOT NULL, ` +
        `applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    await db.pool.query(`INSERT INTO "gap".mmk_migrations (version, name) VALUES (99, 'later')`);
    const store = postgresMetadataStore({ pool: db.pool, schema: "gap" });
    await assert.rejects(
      store.migrate(),
      /version 99, newer .* lacks its migrations 1, 2; refusing/,
    );
    // The lock was released: another migrate can still take it.
    await assert.rejects(store.migrate(), /version 99/);
  });

  it("uses an index for every lookup", async () => {
    const store = postgresMetadataStore({ pool: db.pool, schema: "plans" });
    await store.migrate();
    const client = await db.pool.connect();
    try {
      await client.query("SET enable_seqscan = off");
      const plan = async (sql: string): Promise<string> =>
        (await client.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`)).rows
          .map((r) => r["QUERY PLAN"])
          .join("\n");
      const cases: Array<[string, string]> = [
        [`SELECT * FROM plans.mmk_media WHERE origin = 'a' AND media_id = 'b'`, "mmk_media_pkey"],
        [`SELECT * FROM plans.mmk_media WHERE sha256 = 'x'`, "mmk_media_sha256"],
        [
          `SELECT * FROM plans.mmk_media WHERE uploader = 'u' AND (created_at, origin, media_id) < (1::bigint, 'a'::text, 'b'::text) ORDER BY created_at DESC, origin DESC, media_id DESC LIMIT 10`,
          "mmk_media_uploader",
        ],
        [
          `SELECT * FROM plans.mmk_media WHERE kind = 'remote' AND NOT protected AND last_access_at < 5 ORDER BY last_access_at LIMIT 10`,
          "mmk_media_remote_access",
        ],
        [
          `SELECT count(*) FROM plans.mmk_pending WHERE creator = 'c' AND expires_at > 5`,
          "mmk_pending_creator",
        ],
        [`SELECT * FROM plans.mmk_pending WHERE expires_at <= 5`, "mmk_pending_expires"],
        [
          `SELECT * FROM plans.mmk_thumbnails WHERE origin = 'a' AND media_id = 'b'`,
          "mmk_thumbnails_pkey",
        ],
        [
          `SELECT * FROM plans.mmk_previews WHERE url = 'u' AND bucket = 1 AND language = ''`,
          "mmk_previews_pkey",
        ],
        [`SELECT * FROM plans.mmk_previews WHERE expires_at <= 5`, "mmk_previews_expires"],
        [`SELECT * FROM plans.mmk_usage WHERE user_id = 'u'`, "mmk_usage_pkey"],
      ];
      for (const [sql, index] of cases) {
        const p = await plan(sql);
        assert.match(
          p,
          new RegExp(
            `Index (Only )?Scan (Backward )?using ${index} |Bitmap Index Scan on ${index}\\b`,
          ),
          `${sql}\n${p}`,
        );
      }
    } finally {
      client.release();
    }
  });

  it("two connections completing one pending upload at once: exactly one wins", async () => {
    const schema = "complete_race";
    const pools = [0, 1].map(() => new pg.Pool({ connectionString: db.url, max: 1 }));
    for (const p of pools) p.on("error", () => {});
    const [a, b] = pools.map((pool) => postgresMetadataStore({ pool, schema }));
    await a!.migrate();
    const record = {
      origin: "example.org",
      mediaId: "contested",
      kind: "local" as const,
      contentType: "image/png",
      filename: null,
      size: 7,
      sha256: "b".repeat(64),
      datastoreId: "fs",
      location: "first",
      uploader: "@u:example.org",
      createdAt: 1,
      lastAccessAt: 1,
      quarantined: false,
      protected: false,
    };
    await a!.createPending({
      origin: "example.org",
      mediaId: "contested",
      creator: "@u:example.org",
      createdAt: 1,
      expiresAt: 1e12,
    });
    // A third connection locks the pending row so both completions are provably in flight together.
    const holder = await db.pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query(
        `SELECT 1 FROM "${schema}".mmk_pending WHERE media_id = 'contested' FOR UPDATE`,
      );
      const outcomes = Promise.allSettled([
        a!.completePending({ ...record, location: "from-a" }, 2),
        b!.completePending({ ...record, location: "from-b" }, 2),
      ]);
      for (let i = 0; ; i++) {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%mmk_pending%'`,
        );
        if (rows[0]!.n >= 2) break;
        assert.ok(i < 600, "both completions should wait on the pending row");
        await new Promise((r) => setTimeout(r, 20));
      }
      await holder.query("COMMIT");
      const settled = await outcomes;
      const won = settled.filter((o) => o.status === "fulfilled");
      assert.equal(won.length, 1);
      const lost = settled.find((o) => o.status === "rejected");
      assert.ok(
        lost && MediaError.is(lost.reason) && lost.reason.errcode === "M_CANNOT_OVERWRITE_MEDIA",
        "the loser gets M_CANNOT_OVERWRITE_MEDIA",
      );
      const stored = await a!.getMedia("example.org", "contested");
      assert.equal(stored!.location, settled[0].status === "fulfilled" ? "from-a" : "from-b");
      assert.deepEqual(await b!.getUsage("@u:example.org"), { bytes: 7, count: 1 });
    } finally {
      holder.release();
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it("validates its options with messages naming the option", () => {
    assert.throws(
      () => postgresMetadataStore({ pool: db.pool, schema: "bad-name; DROP" }),
      configError(/options\.schema/),
    );
    assert.throws(
      () => postgresMetadataStore({ pool: db.pool, schema: "" }),
      configError(/options\.schema/),
    );
    assert.throws(
      () => postgresMetadataStore({ pool: {} as PgPoolLike }),
      configError(/options\.pool/),
    );
    assert.throws(() => postgresMetadataStore(undefined as never), configError(/pool/));
    assert.throws(
      () => postgresMetadataStore({ pool: db.pool, preparedStatements: "yes" as never }),
      configError(/options\.preparedStatements/),
    );
  });

  it("works without prepared statements (for poolers that cannot keep them)", async () => {
    // One connection, so pg_prepared_statements (per session) shows what the store prepared.
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    pool.on("error", () => {});
    const preparedIn = async (schema: string): Promise<number> => {
      const { rows } = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE $1",
        [`%"${schema}".mmk_pending%`],
      );
      return rows[0]!.n;
    };
    try {
      for (const [schema, preparedStatements] of [
        ["unprepared", false],
        ["prepared", true],
      ] as const) {
        const store = postgresMetadataStore({ pool, schema, preparedStatements });
        await store.createPending({
          origin: "example.org",
          mediaId: "u1",
          creator: "@u:example.org",
          createdAt: 1,
          expiresAt: 9,
        });
        assert.equal((await store.getPending("example.org", "u1"))?.expiresAt, 9);
        assert.equal((await preparedIn(schema)) > 0, preparedStatements, schema);
      }
    } finally {
      await pool.end();
    }
  });

  it("keeps schemas apart", async () => {
    const a = postgresMetadataStore({ pool: db.pool, schema: "tenant_a" });
    const b = postgresMetadataStore({ pool: db.pool, schema: "tenant_b" });
    await a.insertMedia({
      origin: "example.org",
      mediaId: "same",
      kind: "local",
      contentType: "text/plain",
      filename: null,
      size: 1,
      sha256: "0".repeat(64),
      datastoreId: "fs",
      location: "l",
      uploader: "@u:example.org",
      createdAt: 1,
      lastAccessAt: 1,
      quarantined: false,
      protected: false,
    });
    assert.ok(await a.getMedia("example.org", "same"));
    assert.equal(await b.getMedia("example.org", "same"), undefined);
  });
});
