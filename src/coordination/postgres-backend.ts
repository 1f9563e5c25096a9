// The PostgreSQL side of postgresCoordinator: one table of locks whose expiry is on the
// database server's clock (every process agrees on it, whatever their own clocks say), one
// sequence for generations, and LISTEN/NOTIFY on a dedicated connection for wake-ups.
import { inTransaction, type PgPoolLike, type PgQueryResult } from "../metadata/postgres/client.js";
import type { CoordinationBackend } from "./backend.js";
import type { CoordinationLogger } from "./options.js";

/** @internal A checked-out client that can LISTEN (`pg.PoolClient` fits). */
interface ListenClient {
  query(config: { text: string }): Promise<PgQueryResult>;
  release(err?: Error | boolean): void;
  on(event: "notification", fn: (message: { channel: string; payload?: string }) => void): void;
  on(event: "error" | "end", fn: (error?: Error) => void): void;
}

/** @internal */
export interface PostgresBackendConfig {
  /** The pool, or a promise of one made from a URL (then `ownsPool`). */
  pool: () => Promise<PgPoolLike>;
  ownsPool: boolean;
  schema: string;
  logger: CoordinationLogger | undefined;
}

/** Advisory lock key of the table creation ("mmkcoord" in ASCII, as a bigint). */
const DDL_LOCK_KEY = "7885076597411115620";
const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;
const backoff = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000);
const quote = (identifier: string) => `"${identifier}"`;

function statements(schema: string) {
  const table = `${quote(schema)}.mmk_coordination_locks`;
  const sequence = `${quote(schema)}.mmk_coordination_generation`;
  return {
    create: [
      ...(schema === "public" ? [] : [`CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`]),
      `CREATE TABLE IF NOT EXISTS ${table} (name text PRIMARY KEY, holder text NOT NULL, ` +
        `generation bigint NOT NULL, expires_at bigint NOT NULL)`,
      `CREATE SEQUENCE IF NOT EXISTS ${sequence}`,
    ],
    // The row of a name whose holder is gone is taken over in place; nextval only counts.
    take:
      `INSERT INTO ${table} AS l (name, holder, generation, expires_at) ` +
      `VALUES ($1, $2, nextval('${sequence}'), ${NOW_MS} + $3) ` +
      `ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, ` +
      `generation = EXCLUDED.generation, expires_at = EXCLUDED.expires_at ` +
      `WHERE l.expires_at < ${NOW_MS} RETURNING generation`,
    renew: `UPDATE ${table} SET expires_at = ${NOW_MS} + $3 WHERE name = $1 AND holder = $2 AND expires_at >= ${NOW_MS}`,
    release: `DELETE FROM ${table} WHERE name = $1 AND holder = $2`,
    publish: `SELECT pg_notify($1, $2)`,
  };
}

/** @internal The NOTIFY channel of a schema's coordinators. */
export const channelOf = (schema: string) => `mmk_coordination_${schema}`.slice(0, 63);

/** @internal */
export function postgresBackend(config: PostgresBackendConfig): CoordinationBackend {
  const sql = statements(config.schema);
  const channel = channelOf(config.schema);
  let ready: Promise<PgPoolLike> | undefined;
  let listener: { client: ListenClient; drop: () => void } | undefined;
  let reconnect: NodeJS.Timeout | undefined;
  let closed = false;

  /**
   * The pool once the table exists. Concurrent CREATE … IF NOT EXISTS can fail on a catalog
   * unique index, so processes take turns under a transaction-scoped advisory lock.
   */
  const pool = (): Promise<PgPoolLike> =>
    (ready ??= (async () => {
      const p = await config.pool();
      await inTransaction(p, async (client) => {
        await client.query({ text: `SELECT pg_advisory_xact_lock(${DDL_LOCK_KEY})` });
        for (const text of sql.create) await client.query({ text });
      });
      return p;
    })().catch((error: unknown) => {
      ready = undefined;
      throw error;
    }));

  /** Connects a dedicated client and LISTENs; `onLost` runs when that connection fails. */
  async function openListener(
    onMessage: (payload: string) => void,
    onLost: () => void,
  ): Promise<void> {
    const client = (await (await pool()).connect()) as unknown as ListenClient;
    let dropped = false;
    const drop = (error?: Error) => {
      if (dropped) return;
      dropped = true;
      if (listener?.client === client) listener = undefined;
      client.release(error ?? true);
      if (!closed) onLost();
    };
    if (closed) {
      drop();
      return;
    }
    client.on("error", (error) => drop(error));
    client.on("end", () => drop());
    client.on("notification", (message) => {
      if (message.channel === channel && message.payload !== undefined) onMessage(message.payload);
    });
    listener = { client, drop };
    try {
      await client.query({ text: `LISTEN ${quote(channel)}` });
    } catch (error) {
      dropped = true;
      if (listener?.client === client) listener = undefined;
      client.release(error instanceof Error ? error : true);
      throw error;
    }
  }

  /** Listens again after a lost connection, backing off, until it works or the backend closes. */
  function relisten(onMessage: (payload: string) => void, onGap: () => void, attempt: number) {
    clearTimeout(reconnect);
    reconnect = setTimeout(() => {
      if (closed) return;
      openListener(onMessage, () => relisten(onMessage, onGap, 0)).then(
        // NOTIFYs sent while disconnected are lost.
        onGap,
        (error: unknown) => {
          config.logger?.debug?.("postgres coordinator could not LISTEN again", { error });
          relisten(onMessage, onGap, attempt + 1);
        },
      );
    }, backoff(attempt));
    reconnect.unref();
  }

  return {
    prepare: async () => void (await config.pool()),
    async take(name, token, ttlMs) {
      const result = await (await pool()).query({ text: sql.take, values: [name, token, ttlMs] });
      const row = result.rows[0] as { generation: string | number } | undefined;
      return row === undefined ? undefined : Number(row.generation);
    },
    async renew(name, token, ttlMs) {
      const result = await (await pool()).query({ text: sql.renew, values: [name, token, ttlMs] });
      return result.rowCount === 1;
    },
    async release(name, token) {
      await (await pool()).query({ text: sql.release, values: [name, token] });
    },
    async publish(_topic, payload) {
      await (await pool()).query({ text: sql.publish, values: [channel, payload] });
    },
    listen: (onMessage, onGap) => openListener(onMessage, () => relisten(onMessage, onGap, 0)),
    async close() {
      closed = true;
      clearTimeout(reconnect);
      listener?.drop();
      if (config.ownsPool) {
        const p = await ready?.catch(() => undefined);
        await (p as { end?: () => Promise<void> } | undefined)?.end?.();
      }
    },
  };
}
