// The conformance suite against a real PostgreSQL: a uses the test pool through a switch that
// cuts it off (a "killed" holder), b makes its own pool from the URL.
import { after, before, describe } from "node:test";
import { postgresCoordinator } from "../../src/coordination/index.js";
import { channelOf } from "../../src/coordination/postgres-backend.js";
import type { PgPoolLike } from "../../src/metadata/postgres.js";
import { describeCoordinator } from "../../src/testing/index.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";

/** The real pool, until `cut()`: then every query and checkout fails, as for a dead process. */
function severable(pool: PgPoolLike) {
  let cut = false;
  const dead = () => Promise.reject(new Error("connection cut"));
  const wrapped: PgPoolLike = {
    query: (config) => (cut ? dead() : pool.query(config)),
    connect: () => (cut ? dead() : pool.connect()),
  };
  return { pool: wrapped, cut: () => void (cut = true) };
}

describe("postgresCoordinator", () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });

  describeCoordinator("postgresCoordinator", async () => {
    const link = severable(db.pool);
    const a = postgresCoordinator({ pool: link.pool });
    const b = postgresCoordinator({ url: db.url });
    return {
      a,
      b,
      killA: async () => link.cut(),
      publishRaw: async (_topic, payload) => {
        await db.pool.query("SELECT pg_notify($1, $2)", [channelOf("public"), payload]);
      },
      cleanup: async () => {
        await Promise.all([a.close(), b.close()]);
      },
    };
  });
});
