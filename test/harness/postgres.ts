// A throwaway PostgreSQL database per test run, dropped afterwards. Connects with
// DATABASE_URL, else PGHOST/PGUSER/..., else the local socket /var/run/postgresql.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import os from "node:os";
import pg from "pg";

export interface TestDatabase {
  /** Connection URL of the new database. */
  readonly url: string;
  readonly database: string;
  /** A pool on the new database (closed by `drop()`). */
  readonly pool: pg.Pool;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

function adminConfig(): pg.ClientConfig {
  if (process.env.DATABASE_URL) return { connectionString: process.env.DATABASE_URL };
  if (process.env.PGHOST) return { database: process.env.PGDATABASE ?? "postgres" };
  const socketDir = "/var/run/postgresql";
  return existsSync(socketDir)
    ? { host: socketDir, database: "postgres", user: process.env.PGUSER ?? os.userInfo().username }
    : { host: "127.0.0.1", port: 5432, user: "postgres", database: "postgres" };
}

function urlFor(config: pg.ClientConfig, database: string): string {
  if (config.connectionString) {
    const url = new URL(config.connectionString);
    url.pathname = `/${database}`;
    return url.toString();
  }
  const host: string = process.env.PGHOST ?? config.host ?? "127.0.0.1";
  const user: string = process.env.PGUSER ?? config.user ?? os.userInfo().username;
  const port = process.env.PGPORT ?? String(config.port ?? 5432);
  const h = host.startsWith("/") ? `?host=${encodeURIComponent(host)}` : "";
  return host.startsWith("/")
    ? `postgresql://${encodeURIComponent(user)}@localhost:${port}/${database}${h}`
    : `postgresql://${encodeURIComponent(user)}@${host}:${port}/${database}`;
}

/** Creates a fresh database. Fails with a message naming the Debian package when PostgreSQL is unreachable. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const config = adminConfig();
  const admin = new pg.Client(config);
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      "PostgreSQL is required by this test but is not reachable (set DATABASE_URL or PGHOST, or " +
        'install and start the Debian package "postgresql"; .ci/run does this on CI): ' +
        String(err),
      { cause: err },
    );
  }
  const database = `mmk_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  try {
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const url = urlFor(config, database);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // DROP ... WITH (FORCE) terminates idle connections of pools still closing; that is expected.
  pool.on("error", () => undefined);
  let dropped = false;
  return {
    url,
    database,
    pool,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await pool.end();
      const c = new pg.Client(config);
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
