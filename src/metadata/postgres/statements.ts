// PostgreSQL's statements: the shared ones, and those that do in one statement what SQLite
// does in a transaction (a record with its usage counters, completing a pending upload,
// deleting a record with its thumbnails, batched touches and quarantines).
import { MEDIA_COLUMNS, tables } from "../sql/columns.js";
import { postgresDialect, sql } from "../sql/dialect.js";
import { placeholderList, sharedStatements } from "../sql/statements.js";

/** @internal Every statement of a PostgreSQL store on `schema` (validated). */
export function postgresStatements(schema: string) {
  const table = tables(schema);
  const addUsage = `INSERT INTO ${table.usage} AS us (user_id, bytes, count)
  SELECT uploader, size, 1 FROM ins WHERE kind = 'local' AND uploader IS NOT NULL
  ON CONFLICT (user_id) DO UPDATE SET bytes = us.bytes + excluded.bytes, count = us.count + 1`;
  const quarantineWhere = (value: string) =>
    `AND quarantined <> ${value} AND (NOT ${value} OR NOT protected)
RETURNING origin, media_id, sha256`;
  return {
    ...sharedStatements(postgresDialect, table),
    /** MEDIA_COLUMNS */
    insertMedia: sql(
      postgresDialect,
      (p) => `
WITH ins AS (
  INSERT INTO ${table.media} (${MEDIA_COLUMNS})
  VALUES (${placeholderList(p, 14)})
  ON CONFLICT DO NOTHING
  RETURNING kind, uploader, size
), u AS (
  ${addUsage}
)
SELECT count(*)::int AS n FROM ins`,
    ),
    /** MEDIA_COLUMNS, now */
    completePending: `
WITH p AS (
  DELETE FROM ${table.pending} WHERE origin = $1 AND media_id = $2 AND expires_at > $15 RETURNING 1
), ins AS (
  INSERT INTO ${table.media} (${MEDIA_COLUMNS})
  SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::text, $8::text, $9::text,
         $10::text, $11::bigint, $12::bigint, $13::boolean, $14::boolean
  FROM p
  RETURNING kind, uploader, size
), u AS (
  ${addUsage}
)
SELECT (SELECT count(*) FROM ins)::int AS n`,
    /** origin, mediaId */
    deleteMedia: `
WITH d AS (
  DELETE FROM ${table.media} WHERE origin = $1 AND media_id = $2 RETURNING *
), t AS (
  DELETE FROM ${table.thumbnails} th USING d WHERE th.origin = d.origin AND th.media_id = d.media_id
  RETURNING th.*
), u AS (
  UPDATE ${table.usage} us SET bytes = us.bytes - d.size, count = us.count - 1
  FROM d WHERE d.kind = 'local' AND us.user_id = d.uploader
)
SELECT (SELECT row_to_json(d) FROM d) AS media,
       (SELECT coalesce(json_agg(t ORDER BY t.width, t.height, t.method, t.animated), '[]'::json) FROM t)
         AS thumbnails`,
    /** origins[], mediaIds[], ats[] */
    touch: `UPDATE ${table.media} m SET last_access_at = v.at
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(origin, media_id, at)
WHERE m.origin = v.origin AND m.media_id = v.media_id AND m.last_access_at < v.at`,
    /** sha256, value */
    quarantineSha: `UPDATE ${table.media} SET quarantined = $2
WHERE sha256 = $1 ${quarantineWhere("$2")}`,
    /** uploader, value */
    quarantineUploader: `UPDATE ${table.media} SET quarantined = $2
WHERE sha256 IN (SELECT sha256 FROM ${table.media} WHERE uploader = $1)
  ${quarantineWhere("$2")}`,
    /** origins[], mediaIds[], value */
    quarantineMxcs: `UPDATE ${table.media} SET quarantined = $3
WHERE sha256 IN (
  SELECT m.sha256 FROM ${table.media} m
  JOIN unnest($1::text[], $2::text[]) AS v(origin, media_id)
    ON m.origin = v.origin AND m.media_id = v.media_id
) ${quarantineWhere("$3")}`,
    /** lock class, creator */
    lockCreator: `SELECT pg_advisory_xact_lock($1, hashtext($2))`,
  } as const;
}

/** @internal */
export type PostgresStatement = keyof ReturnType<typeof postgresStatements>;
