// postgresCoordinator: locks and wake-ups shared through the deployment's PostgreSQL, for
// deployments without Redis. This file does not load `pg`: a pool is made on first use.
import type { PgPoolLike } from "../metadata/postgres/client.js";
import { ConfigError } from "../errors.js";
import { checkSharedOptions, invalid, type SharedCoordinatorOptions } from "./options.js";
import { postgresBackend } from "./postgres-backend.js";
import { sharedCoordinator, type SharedCoordinator } from "./shared.js";

/** Options of {@link postgresCoordinator}: exactly one of `url` or `pool`. */
export interface PostgresCoordinatorOptions extends SharedCoordinatorOptions {
  /** `postgresql://` URL; the coordinator makes (and ends on `close()`) a small pool. */
  url?: string;
  /** A `pg.Pool` to use; it stays yours (not ended). One of its connections stays checked out for LISTEN. */
  pool?: PgPoolLike;
  /**
   * Schema of the table `mmk_coordination_locks` and the sequence `mmk_coordination_generation`
   * (both created if missing); also names the NOTIFY channel `mmk_coordination_<schema>`.
   * @defaultValue "public"
   */
  schema?: string;
  /** Deadline of one query. @defaultValue 1000 */
  commandTimeoutMs?: number;
}

/**
 * Defaults of {@link postgresCoordinator}.
 *
 * @example
 * ```ts
 * import { DEFAULT_POSTGRES_COORDINATOR_OPTIONS } from "matrix-media-kit/coordination";
 * DEFAULT_POSTGRES_COORDINATOR_OPTIONS.schema; // "public"
 * ```
 */
export const DEFAULT_POSTGRES_COORDINATOR_OPTIONS = Object.freeze({
  /** @defaultValue "public" */
  schema: "public",
  /** @defaultValue 1000 */
  commandTimeoutMs: 1000,
  /** Connections of a pool made from `url`. @defaultValue 4 */
  poolSize: 4,
});

const FACTORY = "postgresCoordinator";
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,40}$/;

/**
 * A {@link Coordinator} on PostgreSQL, for deployments that have no Redis.
 *
 * - Locks are rows of `mmk_coordination_locks(name, holder, generation, expires_at)`: a take
 *   is one upsert (`INSERT … ON CONFLICT (name) DO UPDATE … WHERE expires_at < now`) that
 *   returns the new generation, so a row whose holder is gone is taken over atomically with a new generation
 *   (from a sequence). Renewal (every `ttlMs / 3`) and release are token-checked; release
 *   deletes the row.
 * - Expiry uses the database server's clock (`clock_timestamp()`), never the processes':
 *   hosts with skewed clocks still agree on who holds a lock. The local deadline of a held
 *   lock (its `signal` aborts after 80% of `ttlMs` without a successful renewal) runs on this
 *   process's monotonic clock, from when the last successful renewal was sent.
 * - Wake-ups: `NOTIFY` on one channel per schema, carrying the same envelope as Redis, heard on
 *   a dedicated pooled connection that reconnects; waiters are woken after a reconnect.
 * - The same fail-open rules as {@link redisCoordinator}: a database that does not answer
 *   within `commandTimeoutMs` gives a lock held only in this process (`local: true`).
 *
 * The table and sequence are created with `CREATE … IF NOT EXISTS` on first use: additive,
 * safe beside other versions, no migration step.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { postgresCoordinator } from "matrix-media-kit/coordination";
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const coordinator = postgresCoordinator({ pool, logger: console });
 * const lock = await coordinator.tryLock("jobs:sweep", 60_000);
 * if (lock) {
 *   try {
 *     // ... run the job, stopping when lock.signal aborts ...
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * await coordinator.close(); // the pool stays open
 * ```
 */
export function postgresCoordinator(options: PostgresCoordinatorOptions): SharedCoordinator {
  if (typeof options !== "object" || options === null)
    throw invalid(FACTORY, "options", "an options object", options);
  if ((options.url === undefined) === (options.pool === undefined)) {
    throw new ConfigError(`${FACTORY} needs exactly one of url or pool (a pg.Pool)`, {
      option: "url",
    });
  }
  const given = options.pool;
  if (
    given !== undefined &&
    (typeof given?.query !== "function" || typeof given.connect !== "function")
  )
    throw invalid(FACTORY, "pool", "a pg.Pool (with query and connect)", given);
  const url = options.url;
  if (url !== undefined && (typeof url !== "string" || !/^postgres(ql)?:\/\//.test(url)))
    throw invalid(
      FACTORY,
      "url",
      "a postgresql:// URL",
      url === undefined ? url : "a string that is not one",
    );
  const schema = options.schema ?? DEFAULT_POSTGRES_COORDINATOR_OPTIONS.schema;
  if (typeof schema !== "string" || !SCHEMA_NAME.test(schema))
    throw invalid(FACTORY, "schema", `a name matching ${String(SCHEMA_NAME)}`, schema);
  const shared = checkSharedOptions(
    FACTORY,
    options,
    DEFAULT_POSTGRES_COORDINATOR_OPTIONS.commandTimeoutMs,
  );
  let made: Promise<PgPoolLike> | undefined;
  const pool = (): Promise<PgPoolLike> =>
    given !== undefined
      ? Promise.resolve(given)
      : (made ??= import("pg").then(({ default: pg }) => {
          const owned = new pg.Pool({
            connectionString: url,
            max: DEFAULT_POSTGRES_COORDINATOR_OPTIONS.poolSize,
          });
          owned.on("error", (error) =>
            shared.logger?.debug?.("postgres coordinator pool error", { error }),
          );
          return owned;
        }));
  const backend = postgresBackend({
    pool,
    ownsPool: given === undefined,
    schema,
    logger: shared.logger,
  });
  return sharedCoordinator("postgres", backend, shared);
}
