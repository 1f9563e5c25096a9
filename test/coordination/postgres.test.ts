// The conformance suite against a real PostgreSQL: a uses the test pool through a switch that
// cuts it off (a "killed" holder), b makes its own pool from the URL.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
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

describe("postgresCoordinator setup and failure", () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });

  it("creates its table from several processes at once, in its own schema", async () => {
    const coordinators = Array.from({ length: 4 }, () =>
      postgresCoordinator({ pool: db.pool, schema: "coord_race", commandTimeoutMs: 10_000 }),
    );
    try {
      const locks = await Promise.all(coordinators.map((c, i) => c.tryLock(`race-${i}`, 5_000)));
      assert.ok(
        locks.every((l) => l !== undefined && l.local === false),
        "all shared locks",
      );
      const { rows } = await db.pool.query(
        "SELECT count(*)::int AS n FROM coord_race.mmk_coordination_locks",
      );
      assert.equal((rows[0] as { n: number }).n, 4);
    } finally {
      await Promise.all(coordinators.map((c) => c.close()));
    }
  });

  it("refuses bad options with the option's name", () => {
    assert.throws(() => postgresCoordinator({}), /exactly one of url or pool/);
    assert.throws(() => postgresCoordinator({ pool: db.pool, schema: "Bad-Name" }), /schema/);
    assert.throws(
      () => postgresCoordinator({ pool: db.pool, commandTimeoutMs: 0 }),
      /commandTimeoutMs/,
    );
  });

  it("an unreachable database fails open quickly, warning once", async () => {
    const warnings: string[] = [];
    const c = postgresCoordinator({
      url: "postgresql://127.0.0.1:1/none",
      commandTimeoutMs: 300,
      logger: { warn: (m) => warnings.push(m) },
    });
    const start = performance.now();
    const first = await c.tryLock("x", 1000);
    const second = await c.tryLock("y", 1000);
    assert.ok(first?.local && second?.local);
    assert.ok(performance.now() - start < 5_000);
    assert.equal(warnings.length, 1);
    await c.close();
  });
});
