// The conformance suite against every store we ship: memory, real PostgreSQL (a throwaway
// database, one schema per case, a second pool as the racing peer) and the embedded
// SQLite default (a temp directory per case, a second handle on the same file as the peer).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { memoryMetadataStore, postgresMetadataStore } from "../../src/metadata/index.js";
import { sqliteMetadataStore } from "../../src/metadata/sqlite.js";
import { describeMetadataStore } from "../../src/testing/metadata.js";
import { ConfigError } from "../../src/errors.js";
import { createTestDatabase, type TestDatabase } from "../harness/postgres.js";
import { tempDir } from "../harness/tmp.js";

describeMetadataStore("memory", () => memoryMetadataStore());

describe("describeMetadataStore options", () => {
  it("refuses a skip key that names no group or case, and a skip without a reason", () => {
    const factory = () => memoryMetadataStore();
    assert.throws(
      () => describeMetadataStore("x", factory, { skip: { "no such case": "why" } as never }),
      (err: unknown) => err instanceof ConfigError && /no such case/.test(err.message),
    );
    assert.throws(
      () => describeMetadataStore("x", factory, { skip: { pending: "" } }),
      (err: unknown) =>
        err instanceof ConfigError && /options\.skip\["pending"\]/.test(err.message),
    );
  });
});

let db: TestDatabase | undefined;
let peerPool: pg.Pool | undefined;
let schemas = 0;
before(async () => {
  db = await createTestDatabase();
  peerPool = new pg.Pool({ connectionString: db.url, max: 10 });
  // DROP DATABASE ... WITH (FORCE) at teardown can race connections the pools are still
  // closing; an idle client's error must not become an uncaught exception.
  db.pool.on("error", () => {});
  peerPool.on("error", () => {});
});
after(async () => {
  await peerPool?.end();
  await db?.drop();
});

describeMetadataStore("postgres", () => {
  const schema = `conf_${schemas++}`;
  return {
    store: postgresMetadataStore({ pool: db!.pool, schema }),
    peer: postgresMetadataStore({ pool: peerPool!, schema }),
    cleanup: async () => {
      await db!.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    },
  };
});

describeMetadataStore("sqlite", async () => {
  const dir = await tempDir("mmk-sqlite-");
  return {
    store: sqliteMetadataStore({ directory: dir.path }),
    peer: sqliteMetadataStore({ directory: dir.path }),
    cleanup: () => dir.cleanup(),
  };
});
