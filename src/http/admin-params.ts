// Reading the admin API's parameters the way Synapse reads them (names, defaults, errcodes),
// refusing what Synapse refuses with the parameter named, before any storage call.
import { MediaError } from "../errors.js";
import { isValidServerName } from "../ids/validate.js";
import type {
  SortDirection,
  UploaderMediaOrder,
  UploaderMediaQuery,
  UserMediaOrder,
  UserMediaStatisticsQuery,
} from "../metadata/index.js";
import { optionalInt, requiredInt } from "./request.js";
import type { RouteParams } from "./target.js";

/**
 * Limits of the admin API's paging.
 *
 * @example
 * ```ts
 * // GET /_synapse/admin/v1/users/@alice:example.org/media?limit=1000000 answers 1000 items
 * DEFAULT_ADMIN_PAGING.maxLimit; // 1000
 * ```
 */
export const DEFAULT_ADMIN_PAGING = {
  /** Items per page without `limit`, as Synapse. @defaultValue 100 */
  limit: 100,
  /** A larger `limit` answers this many (and `next_token` continues from there). @defaultValue 1000 */
  maxLimit: 1000,
} as const;

/** Synapse refuses `before_ts` under this: it is a time in seconds, not milliseconds. */
const SECONDS_NOT_MS = 30_000_000_000;
const SHA256 = /^[0-9a-f]{64}$/;
/** Printable ASCII but `:`, which ends the localpart (historical localparts included). */
const LOCALPART = /^[\x21-\x39\x3b-\x7e]+$/;
const MAX_ID_LENGTH = 255;

function invalid(message: string): MediaError {
  return new MediaError("M_INVALID_PARAM", message);
}

/** `sigil` opaque `:` server, with a valid server name. */
function checkId(value: string, sigil: string): boolean {
  if (value.length > MAX_ID_LENGTH || !value.startsWith(sigil)) return false;
  const colon = value.indexOf(":");
  return (
    colon > 1 && LOCALPART.test(value.slice(1, colon)) && isValidServerName(value.slice(colon + 1))
  );
}

/** The `@local:server` of the path. @internal */
export function userIdOf(params: RouteParams): string {
  const userId = params.userId ?? "";
  if (!checkId(userId, "@")) {
    throw invalid(
      `Invalid user_id ${JSON.stringify(userId.slice(0, 300))}: expected @localpart:server`,
    );
  }
  return userId;
}

/** The `!opaque:server` of the path. @internal */
export function roomIdOf(params: RouteParams): string {
  const roomId = params.roomId ?? "";
  if (!checkId(roomId, "!")) {
    throw invalid(
      `Invalid room_id ${JSON.stringify(roomId.slice(0, 300))}: expected !opaque:server`,
    );
  }
  return roomId;
}

/** The lower-case hex SHA-256 of the path. @internal */
export function sha256Of(params: RouteParams): string {
  const sha256 = params.sha256 ?? "";
  if (!SHA256.test(sha256)) throw invalid("Invalid sha256: expected 64 lower-case hex digits");
  return sha256;
}

/** A required `before_ts` in milliseconds (Synapse refuses a time in seconds). @internal */
export function beforeTsOf(query: URLSearchParams): number {
  const before = requiredInt(query, "before_ts");
  if (before < SECONDS_NOT_MS) {
    throw invalid("before_ts is from 1970: it must be in milliseconds, not seconds");
  }
  return before;
}

/** `from` and `limit`: `limit` 0 is refused (it would page forever), a huge one capped. @internal */
export function pagingOf(query: URLSearchParams): { offset: number; limit: number } {
  const offset = optionalInt(query, "from") ?? 0;
  const limit = optionalInt(query, "limit") ?? DEFAULT_ADMIN_PAGING.limit;
  if (limit === 0) throw invalid("limit must be a positive integer");
  return { offset, limit: Math.min(limit, DEFAULT_ADMIN_PAGING.maxLimit) };
}

function directionOf(query: URLSearchParams, fallback: SortDirection): SortDirection {
  const dir = query.get("dir");
  if (dir === null) return fallback;
  if (dir === "f") return "asc";
  if (dir === "b") return "desc";
  throw invalid(`Unknown dir ${JSON.stringify(dir)}: expected f or b`);
}

function orderOf<T extends string>(
  query: URLSearchParams,
  names: Readonly<Record<string, T>>,
  fallback: string,
): T {
  const name = query.get("order_by") ?? fallback;
  const order = Object.hasOwn(names, name) ? names[name] : undefined;
  if (order === undefined) {
    throw invalid(
      `Unknown order_by ${JSON.stringify(name)}: expected one of ${Object.keys(names).join(", ")}`,
    );
  }
  return order;
}

const UPLOADER_ORDERS: Readonly<Record<string, UploaderMediaOrder>> = {
  media_id: "mediaId",
  upload_name: "filename",
  created_ts: "createdAt",
  last_access_ts: "lastAccessAt",
  media_length: "size",
  media_type: "contentType",
  quarantined_by: "quarantined",
  safe_from_quarantine: "protected",
};

/** `from`, `limit`, `order_by`, `dir` of a user's media; newest first when neither order is given. @internal */
export function uploaderQueryOf(query: URLSearchParams): Required<UploaderMediaQuery> {
  const paging = pagingOf(query);
  const unordered = !query.has("order_by") && !query.has("dir");
  return {
    ...paging,
    orderBy: orderOf(query, UPLOADER_ORDERS, "created_ts"),
    direction: directionOf(query, unordered ? "desc" : "asc"),
  };
}

const USER_ORDERS: Readonly<Record<string, UserMediaOrder>> = {
  user_id: "userId",
  // The kit knows no display names: a user's display name is taken to be their user ID.
  displayname: "userId",
  media_length: "bytes",
  media_count: "count",
};

/** The parameters of `statistics/users/media`. @internal */
export function statisticsQueryOf(query: URLSearchParams): UserMediaStatisticsQuery {
  const fromTs = optionalInt(query, "from_ts") ?? 0;
  const untilTs = optionalInt(query, "until_ts");
  if (untilTs !== undefined && untilTs <= fromTs) {
    throw invalid("until_ts must be greater than from_ts");
  }
  const search = query.get("search_term") ?? undefined;
  if (search === "") throw invalid("search_term must not be empty");
  if (search !== undefined && (search.includes("\0") || search.length > MAX_ID_LENGTH)) {
    throw invalid("search_term must be at most 255 characters without NUL");
  }
  return {
    ...pagingOf(query),
    orderBy: orderOf(query, USER_ORDERS, "user_id"),
    direction: directionOf(query, "asc"),
    fromTs,
    ...(untilTs === undefined ? {} : { untilTs }),
    ...(search === undefined ? {} : { search }),
  };
}
