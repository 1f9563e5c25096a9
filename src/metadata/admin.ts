// The queries behind the admin API: a user's media by offset in any of the orders an operator
// may ask for, local media to expire, and per-user media statistics. Validation, the memory
// store's orders and the SQL both SQL stores run are written once here, so the three stores
// return the same rows in the same order.
import { MediaError } from "../errors.js";
import { compareStrings } from "./order.js";
import type { SqlDialect } from "./sql/dialect.js";
import type { MediaRecord } from "./types.js";
import { validateLimit, validateString, validateTime } from "./validate.js";

/** Orders of {@link MetadataStore.pageMediaByUploader}. */
export type UploaderMediaOrder =
  | "mediaId"
  | "filename"
  | "createdAt"
  | "lastAccessAt"
  | "size"
  | "contentType"
  | "quarantined"
  | "protected";

/** Orders of {@link MetadataStore.getUserMediaStatistics}. */
export type UserMediaOrder = "userId" | "count" | "bytes";

/** Ascending or descending. */
export type SortDirection = "asc" | "desc";

/** An offset page and the number of items of every page together. */
export interface CountedPage<T> {
  items: T[];
  total: number;
}

/** Which page of a user's media, in which order. */
export interface UploaderMediaQuery {
  /** Items to skip. @defaultValue 0 */
  offset?: number;
  /** Items per page (1–`DEFAULT_METADATA_LIMITS.maxLimit`). @defaultValue 100 */
  limit?: number;
  /** Ties are broken by ascending `mediaId`, then `origin`. @defaultValue "createdAt" */
  orderBy?: UploaderMediaOrder;
  /** Applies to `orderBy` only (the tie-break stays ascending). @defaultValue "desc" */
  direction?: SortDirection;
}

/** Local media an operator expires: not accessed since `before`, larger than `sizeGt`. */
export interface ExpiredLocalMediaQuery {
  /** Last access strictly before this instant (ms since the epoch). */
  before: number;
  /** Only media of more bytes than this. @defaultValue 0 */
  sizeGt?: number;
  /** Records per call. @defaultValue 100 */
  limit?: number;
  /** Only records after this one in the query's order (the last of the previous call). */
  after?: ExpiredCursor | undefined;
}

/** A position in {@link MetadataStore.listExpiredLocalMedia}'s order. */
export interface ExpiredCursor {
  lastAccessAt: number;
  origin: string;
  mediaId: string;
}

/** Which page of per-user statistics of local media. */
export interface UserMediaStatisticsQuery {
  /** @defaultValue 0 */
  offset?: number;
  /** @defaultValue 100 */
  limit?: number;
  /** Ties are broken by ascending user ID. @defaultValue "userId" */
  orderBy?: UserMediaOrder;
  /** @defaultValue "asc" */
  direction?: SortDirection;
  /** Only media created at or after this instant (ms). @defaultValue 0 */
  fromTs?: number;
  /** Only media created at or before this instant (ms). @defaultValue no bound */
  untilTs?: number;
  /**
   * Only users whose localpart contains this (ASCII case-insensitive; the localpart is what
   * precedes the last `:`).
   */
  search?: string;
}

/** Local media of one user within a statistics query. */
export interface UserMediaStatistics {
  userId: string;
  /** Items. */
  count: number;
  /** Bytes. */
  bytes: number;
}

const UPLOADER_ORDERS: Readonly<Record<UploaderMediaOrder, string>> = {
  mediaId: "media_id",
  filename: "filename",
  createdAt: "created_at",
  lastAccessAt: "last_access_at",
  size: "size",
  contentType: "content_type",
  quarantined: "quarantined",
  protected: "protected",
};
const USER_ORDERS: Readonly<Record<UserMediaOrder, string>> = {
  userId: "uploader",
  count: "n",
  bytes: "bytes",
};

function invalid(message: string): MediaError {
  return new MediaError("M_INVALID_PARAM", message);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (!allowed.includes(value as T)) {
    throw invalid(
      `Expected one of ${allowed.join(", ")} for ${field} but received ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

/** @internal */
export type NormalUploaderQuery = Required<UploaderMediaQuery>;

/** @internal */
export function validateUploaderQuery(query: UploaderMediaQuery = {}): NormalUploaderQuery {
  return {
    offset: query.offset === undefined ? 0 : validateTime(query.offset, "offset"),
    limit: validateLimit(query.limit),
    orderBy: oneOf(
      query.orderBy ?? "createdAt",
      Object.keys(UPLOADER_ORDERS) as UploaderMediaOrder[],
      "orderBy",
    ),
    direction: oneOf(query.direction ?? "desc", ["asc", "desc"], "direction"),
  };
}

/** @internal */
export type NormalExpiredQuery = Required<Omit<ExpiredLocalMediaQuery, "after">> & {
  after: ExpiredCursor | undefined;
};

/** @internal */
export function validateExpiredQuery(query: ExpiredLocalMediaQuery): NormalExpiredQuery {
  if (typeof query !== "object" || query === null) throw invalid("Expected a query");
  return {
    before: validateTime(query.before, "before"),
    sizeGt: query.sizeGt === undefined ? 0 : validateTime(query.sizeGt, "sizeGt"),
    limit: validateLimit(query.limit),
    after:
      query.after === undefined
        ? undefined
        : {
            lastAccessAt: validateTime(query.after.lastAccessAt, "after.lastAccessAt"),
            origin: validateString(query.after.origin, "after.origin"),
            mediaId: validateString(query.after.mediaId, "after.mediaId"),
          },
  };
}

/** @internal */
export interface NormalStatisticsQuery extends Required<
  Omit<UserMediaStatisticsQuery, "search" | "untilTs">
> {
  untilTs: number;
  search: string | undefined;
}

/** @internal */
export function validateStatisticsQuery(
  query: UserMediaStatisticsQuery = {},
): NormalStatisticsQuery {
  return {
    offset: query.offset === undefined ? 0 : validateTime(query.offset, "offset"),
    limit: validateLimit(query.limit),
    orderBy: oneOf(query.orderBy ?? "userId", ["userId", "count", "bytes"], "orderBy"),
    direction: oneOf(query.direction ?? "asc", ["asc", "desc"], "direction"),
    fromTs: query.fromTs === undefined ? 0 : validateTime(query.fromTs, "fromTs"),
    untilTs:
      query.untilTs === undefined
        ? Number.MAX_SAFE_INTEGER
        : validateTime(query.untilTs, "untilTs"),
    search: query.search === undefined ? undefined : validateString(query.search, "search"),
  };
}

// ---- memory ------------------------------------------------------------------------------

function compareField(a: MediaRecord, b: MediaRecord, order: UploaderMediaOrder): number {
  switch (order) {
    case "mediaId":
    case "contentType":
      return compareStrings(a[order], b[order]);
    case "filename":
      // No filename sorts before every filename, as NULLS FIRST does in SQL.
      if (a.filename === null || b.filename === null) {
        return Number(a.filename !== null) - Number(b.filename !== null);
      }
      return compareStrings(a.filename, b.filename);
    case "quarantined":
    case "protected":
      return Number(a[order]) - Number(b[order]);
    default:
      return a[order] - b[order];
  }
}

/** @internal The order of {@link validateUploaderQuery}'s query, for the memory store. */
export function uploaderComparator(
  query: NormalUploaderQuery,
): (a: MediaRecord, b: MediaRecord) => number {
  const sign = query.direction === "asc" ? 1 : -1;
  return (a, b) =>
    sign * compareField(a, b, query.orderBy) ||
    compareStrings(a.mediaId, b.mediaId) ||
    compareStrings(a.origin, b.origin);
}

const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** @internal What the SQL `LIKE '@%term%:%'` keeps: the term between the `@` and the last `:`. */
export function matchesLocalpart(userId: string, search: string): boolean {
  const colon = userId.lastIndexOf(":");
  return colon > 0 && asciiLower(userId.slice(1, colon)).includes(asciiLower(search));
}

/** @internal Statistics of the local records given, for the memory store. */
export function userStatistics(
  records: Iterable<MediaRecord>,
  query: NormalStatisticsQuery,
): CountedPage<UserMediaStatistics> {
  const users = new Map<string, UserMediaStatistics>();
  for (const record of records) {
    const userId = record.uploader;
    if (record.kind !== "local" || userId === null) continue;
    if (record.createdAt < query.fromTs || record.createdAt > query.untilTs) continue;
    if (query.search !== undefined && !matchesLocalpart(userId, query.search)) continue;
    const stats = users.get(userId) ?? { userId, count: 0, bytes: 0 };
    stats.count++;
    stats.bytes += record.size;
    users.set(userId, stats);
  }
  const sign = query.direction === "asc" ? 1 : -1;
  const field = query.orderBy;
  const sorted = [...users.values()].sort(
    (a, b) =>
      sign * (field === "userId" ? compareStrings(a.userId, b.userId) : a[field] - b[field]) ||
      compareStrings(a.userId, b.userId),
  );
  return { items: sorted.slice(query.offset, query.offset + query.limit), total: sorted.length };
}

// ---- SQL ---------------------------------------------------------------------------------

/** @internal A statement's text and the values it binds, in order. */
export interface BoundStatement {
  text: string;
  values: unknown[];
}

/** @internal A page of a user's media, each row with the total as `total_count`. */
export function uploaderPageStatement(
  dialect: SqlDialect,
  table: string,
  columns: string,
  uploader: string,
  query: NormalUploaderQuery,
): BoundStatement {
  const p = dialect.placeholders();
  const column = UPLOADER_ORDERS[query.orderBy];
  const dir = query.direction === "asc" ? "ASC" : "DESC";
  const nulls =
    query.orderBy === "filename" ? (dir === "ASC" ? " NULLS FIRST" : " NULLS LAST") : "";
  const textual = ["media_id", "filename", "content_type"].includes(column);
  const sortKey = textual ? dialect.binary(column) : column;
  const text = `SELECT ${columns}, count(*) OVER () AS total_count FROM ${table}
WHERE uploader = ${p()}
ORDER BY ${sortKey} ${dir}${nulls}, ${dialect.binary("media_id")} ASC, ${dialect.binary("origin")} ASC
LIMIT ${p()} OFFSET ${p()}`;
  return { text, values: [uploader, query.limit, query.offset] };
}

/** @internal The number of a user's media (when a page past the end carries no total). */
export function uploaderCountStatement(
  dialect: SqlDialect,
  table: string,
  uploader: string,
): BoundStatement {
  const p = dialect.placeholders();
  return { text: `SELECT count(*) AS n FROM ${table} WHERE uploader = ${p()}`, values: [uploader] };
}

/** @internal Expired local media, oldest access first. */
export function expiredLocalStatement(
  dialect: SqlDialect,
  table: string,
  columns: string,
  query: NormalExpiredQuery,
): BoundStatement {
  const p = dialect.placeholders();
  const values: unknown[] = [query.before, query.sizeGt];
  let text = `SELECT ${columns} FROM ${table}
WHERE kind = 'local' AND ${dialect.isFalse("protected")} AND ${dialect.isFalse("quarantined")}
  AND last_access_at < ${p()} AND size > ${p()}`;
  if (query.after) {
    text += `\n  AND (last_access_at, origin, media_id) > (${p("bigint")}, ${p("text")}, ${p("text")})`;
    values.push(query.after.lastAccessAt, query.after.origin, query.after.mediaId);
  }
  text += `\nORDER BY last_access_at, origin, media_id LIMIT ${p()}`;
  return { text, values: [...values, query.limit] };
}

const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function statisticsWhere(dialect: SqlDialect, query: NormalStatisticsQuery) {
  const p = dialect.placeholders();
  // Placeholders are numbered as they are written, so the clauses are built in order.
  let where = `WHERE kind = 'local' AND uploader IS NOT NULL AND created_at >= ${p()} AND created_at <= ${p()}`;
  const values: unknown[] = [query.fromTs, query.untilTs];
  if (query.search !== undefined) {
    where += `\n  AND uploader ${dialect.likeInsensitive} ${p()} ESCAPE '\\'`;
    values.push(`@%${escapeLike(query.search)}%:%`);
  }
  return { p, where, values };
}

/** @internal A page of per-user statistics, each row with the number of users as `total_count`. */
export function statisticsStatement(
  dialect: SqlDialect,
  table: string,
  query: NormalStatisticsQuery,
): BoundStatement {
  // The placeholders are numbered in order: the WHERE's first, then LIMIT and OFFSET.
  const { p, where, values } = statisticsWhere(dialect, query);
  const dir = query.direction === "asc" ? "ASC" : "DESC";
  const column = USER_ORDERS[query.orderBy];
  const sortKey = column === "uploader" ? dialect.binary(column) : column;
  const text = `SELECT uploader, count(*) AS n, sum(size) AS bytes, count(*) OVER () AS total_count
FROM ${table}
${where}
GROUP BY uploader
ORDER BY ${sortKey} ${dir}, ${dialect.binary("uploader")} ASC
LIMIT ${p()} OFFSET ${p()}`;
  return { text, values: [...values, query.limit, query.offset] };
}

/** @internal The number of users a statistics query covers. */
export function statisticsCountStatement(
  dialect: SqlDialect,
  table: string,
  query: NormalStatisticsQuery,
): BoundStatement {
  const { where, values } = statisticsWhere(dialect, query);
  return {
    text: `SELECT count(DISTINCT uploader) AS n FROM ${table}\n${where}`,
    values,
  };
}

/** @internal A statistics row read back. */
export function toStatistics(row: Record<string, unknown>): UserMediaStatistics {
  return { userId: String(row.uploader), count: Number(row.n), bytes: Number(row.bytes) };
}
