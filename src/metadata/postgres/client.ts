// The part of `pg` the store uses, as structural types: `matrix-media-kit/metadata` never
// imports `pg` at runtime (the pool is the caller's).

/** The part of a `pg` query result the store reads. */
export interface PgQueryResult {
  rows: unknown[];
  rowCount: number | null;
}

/** A query as `pg` takes it; `name` makes it a prepared statement per connection. */
export interface PgQueryConfig {
  text: string;
  values?: unknown[];
  name?: string;
}

/** A checked-out `pg` client (`pg.PoolClient` fits). */
export interface PgClientLike {
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  /** Passing an error destroys the connection instead of returning it to the pool. */
  release(err?: Error | boolean): void;
}

/** A `pg` pool (`pg.Pool` fits); the store never ends it. */
export interface PgPoolLike {
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  connect(): Promise<PgClientLike>;
}

/** @internal The SQLSTATE of a `pg` error (`23505` unique violation, `40P01` deadlock). */
export function pgCode(err: unknown): string | undefined {
  return typeof err === "object" &&
    err !== null &&
    typeof (err as { code?: unknown }).code === "string"
    ? (err as { code: string }).code
    : undefined;
}

type ErrorListener = (err: Error) => void;
type ErrorEmitter = Partial<{
  on(event: "error", listener: ErrorListener): unknown;
  off(event: "error", listener: ErrorListener): unknown;
}>;

/**
 * A client checked out of `pool` that carries an `error` listener until it is released. `pg`
 * emits `error` on a checked-out client whose connection the server ends (a restart, a
 * failover, `DROP DATABASE … WITH (FORCE)`); unheard, that event would crash the process. The
 * query in flight fails on its own; a client that saw such an error is destroyed on release.
 * @internal
 */
export async function checkOut(pool: PgPoolLike): Promise<PgClientLike> {
  const client = await pool.connect();
  const emitter = client as ErrorEmitter;
  if (typeof emitter.on !== "function") return client;
  let lost: Error | undefined;
  const onError: ErrorListener = (err) => {
    lost = err;
  };
  emitter.on("error", onError);
  return {
    query: (config) => client.query(config),
    release(err) {
      emitter.off?.("error", onError);
      client.release(err ?? lost);
    },
  };
}

/** @internal Runs `work` in a transaction on one client; a client that cannot roll back is destroyed. */
export async function inTransaction<R>(
  pool: PgPoolLike,
  work: (client: PgClientLike) => Promise<R>,
): Promise<R> {
  const client = await checkOut(pool);
  try {
    await client.query({ text: "BEGIN" });
    const result = await work(client);
    await client.query({ text: "COMMIT" });
    client.release();
    return result;
  } catch (err) {
    try {
      await client.query({ text: "ROLLBACK" });
      client.release();
    } catch (rollbackError) {
      client.release(rollbackError instanceof Error ? rollbackError : true);
    }
    throw err;
  }
}
