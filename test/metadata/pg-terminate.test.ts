// A checked-out PostgreSQL connection that the server terminates (restart, failover, DROP
// DATABASE … WITH (FORCE)) fails the work on it; it never crashes the process.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { inTransaction } from "../../src/metadata/postgres/client.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";

describe("postgres: a terminated connection", () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  before(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on("error", () => undefined);
    process.on("uncaughtException", onUncaught);
  });
  after(async () => {
    process.off("uncaughtException", onUncaught);
    await pool.end();
    await db.drop();
  });

  it("rejects the transaction and leaves no uncaught error", async () => {
    const work = inTransaction(pool, async (client) => {
      await client.query({ text: "SELECT pg_sleep(60)" });
    });
    // Terminate the backend running the sleep, from another connection.
    let terminated = 0;
    for (let i = 0; i < 100 && terminated === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const res = await db.pool.query(
        "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep%'",
        [db.database],
      );
      terminated = res.rowCount ?? 0;
    }
    assert.equal(terminated, 1, "the sleeping backend was found and terminated");
    await assert.rejects(work, /terminat/i);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(uncaught, [], "no uncaught 'error' event from the checked-out client");
    // The pool still works: the broken client was destroyed, not returned.
    const ok = await pool.query("SELECT 1 AS one");
    assert.equal(ok.rows[0].one, 1);
  });
});
