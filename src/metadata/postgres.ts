// PostgreSQL store on an injected `pg` pool. This file never imports `pg` at runtime: the
// pool is the caller's, so `matrix-media-kit/metadata` loads without the driver.
import { ConfigError } from "../errors.js";
import { checkedMetadataStore } from "./checked.js";
import type { PgPoolLike } from "./postgres/client.js";
import { postgresBackend, postgresState } from "./postgres/methods.js";
import type { MetadataStore, MigrationResult } from "./types.js";

export type { PgClientLike, PgPoolLike, PgQueryConfig, PgQueryResult } from "./postgres/client.js";
export { ADVISORY_LOCK_CLASS, migrationLockKey } from "./postgres/migrations.js";

/** Options of {@link postgresMetadataStore}. */
export interface PostgresMetadataStoreOptions {
  /** A `pg.Pool` (injected: the store uses it and never ends it). */
  pool: PgPoolLike;
  /**
   * PostgreSQL schema holding the tables (created by `migrate()` when missing). Tables are
   * prefixed `mmk_`, so sharing a schema with a homeserver is safe.
   * @defaultValue "public"
   */
  schema?: string;
  /**
   * Name the store's queries so `pg` prepares each once per connection (faster). Turn off
   * behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode
   * before 1.21).
   * @defaultValue true
   */
  preparedStatements?: boolean;
}

/** A PostgreSQL {@link MetadataStore}; `migrate()` is always present. */
export interface PostgresMetadataStore extends MetadataStore {
  /** The schema the tables live in. */
  readonly schema: string;
  /** Applies pending migrations under a PostgreSQL advisory lock; safe from several processes at once. */
  migrate(): Promise<MigrationResult>;
}

/**
 * Defaults of {@link PostgresMetadataStoreOptions}.
 *
 * @example
 * ```ts
 * postgresMetadataStore({ pool, schema: DEFAULT_POSTGRES_METADATA_OPTIONS.schema });
 * ```
 */
export const DEFAULT_POSTGRES_METADATA_OPTIONS = {
  /** @defaultValue "public" */
  schema: "public",
  /** @defaultValue true */
  preparedStatements: true,
} as const;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function invalidOption(option: string, expected: string, received: unknown): ConfigError {
  return new ConfigError(
    `postgresMetadataStore: expected options.${option} to be ${expected} but received ${shown(received)}`,
    { option },
  );
}

function shown(value: unknown): string {
  if (value === null || value === undefined || typeof value === "object") {
    return value === null ? "null" : typeof value === "object" ? "an object" : "undefined";
  }
  return JSON.stringify(value) ?? typeof value;
}

function validateOptions(options: PostgresMetadataStoreOptions) {
  if (typeof options !== "object" || options === null) {
    throw new ConfigError(
      `postgresMetadataStore: expected an options object with a pool but received ${shown(options)}`,
    );
  }
  const pool = options.pool as PgPoolLike | null | undefined;
  if (
    typeof pool !== "object" ||
    pool === null ||
    typeof pool.query !== "function" ||
    typeof pool.connect !== "function"
  ) {
    throw invalidOption("pool", "a pg.Pool (with query and connect)", pool);
  }
  const schema = options.schema ?? DEFAULT_POSTGRES_METADATA_OPTIONS.schema;
  if (typeof schema !== "string" || !SCHEMA_NAME.test(schema)) {
    throw invalidOption("schema", `a name matching ${String(SCHEMA_NAME)}`, schema);
  }
  const preparedStatements =
    options.preparedStatements ?? DEFAULT_POSTGRES_METADATA_OPTIONS.preparedStatements;
  if (typeof preparedStatements !== "boolean") {
    throw invalidOption("preparedStatements", "a boolean", preparedStatements);
  }
  return { pool, schema, preparedStatements };
}

/**
 * A metadata store on PostgreSQL through an injected `pg` pool.
 *
 * The factory does no I/O. Call `await store.migrate()` once at startup: it applies the
 * versioned migrations under a PostgreSQL advisory lock, so several processes starting
 * together apply each migration exactly once (the others wait, then see it applied). A
 * store whose `migrate()` was never called runs it before its first operation.
 *
 * Writes that must agree (a record and its uploader's usage counters, completing a pending
 * upload, deleting a record with its thumbnails) are single statements or transactions.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { postgresMetadataStore } from "matrix-media-kit/metadata";
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const metadata = postgresMetadataStore({ pool });
 * await metadata.migrate(); // { applied: [1], version: 1 } the first time
 * ```
 */
export function postgresMetadataStore(
  options: PostgresMetadataStoreOptions,
): PostgresMetadataStore {
  const { pool, schema, preparedStatements } = validateOptions(options);
  const backend = postgresBackend(postgresState(pool, schema, preparedStatements));
  return { ...checkedMetadataStore(`postgres:${schema}`, backend), schema };
}
