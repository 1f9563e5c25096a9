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

/** @internal Runs `work` in a transaction on one client; a client that cannot roll back is destroyed. */
export async function inTransaction<R>(
  pool: PgPoolLike,
  work: (client: PgClientLike) => Promise<R>,
): Promise<R> {
  const client = await pool.connect();
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
