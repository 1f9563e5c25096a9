// What differs between the SQL that PostgreSQL and SQLite take for the same statement. The
// rest (column lists, row codec, the statements both run) is written once against this.

/** @internal */
export interface SqlDialect {
  /**
   * Placeholders of one statement, in order of appearance: `$1::bigint, $2…` on PostgreSQL,
   * `?` on SQLite (better-sqlite3 binds only in order), so each value is bound where it stands.
   * `type` is a PostgreSQL cast for parameters whose type the planner cannot infer.
   */
  placeholders(): (type?: string) => string;
  /** A boolean as bound and stored (`boolean` on PostgreSQL, `0`/`1` on SQLite). */
  toBoolean(value: boolean): boolean | number;
  /** A stored boolean (row_to_json rows included) read back. */
  fromBoolean(value: unknown): boolean;
  /** `column` is false, in the form the partial indexes are declared with. */
  isFalse(column: string): string;
  /** `column` compared by code point whatever the database's collation. */
  binary(column: string): string;
  /** The ASCII case-insensitive `LIKE` operator. */
  likeInsensitive: string;
}

/** @internal */
export const postgresDialect: SqlDialect = {
  placeholders() {
    let n = 0;
    return (type) => (type ? `$${++n}::${type}` : `$${++n}`);
  },
  toBoolean: (value) => value,
  fromBoolean: (value) => value === true,
  isFalse: (column) => `NOT ${column}`,
  binary: (column) => `${column} COLLATE "C"`,
  likeInsensitive: "ILIKE",
};

/** @internal */
export const sqliteDialect: SqlDialect = {
  placeholders: () => () => "?",
  toBoolean: (value) => (value ? 1 : 0),
  fromBoolean: (value) => value === 1,
  isFalse: (column) => `${column} = 0`,
  // BINARY, SQLite's default collation, already compares code points.
  binary: (column) => column,
  likeInsensitive: "LIKE",
};

/** Fills a statement's placeholders in order. */
export function sql(
  dialect: SqlDialect,
  build: (param: (type?: string) => string) => string,
): string {
  return build(dialect.placeholders());
}
