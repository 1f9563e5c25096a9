// Validation and helpers shared by every store, so all of them accept and refuse exactly
// the same values (PostgreSQL cannot store NUL bytes; the others then refuse them too).
import { MediaError } from "../errors.js";
import type {
  MediaRecord,
  MediaRecordKind,
  PendingUpload,
  PreviewCacheEntry,
  QuarantineTarget,
  ThumbnailRecord,
} from "./types.js";

/**
 * Page sizes of `listMediaByUploader` and `listRemoteMediaAccessedBefore`.
 *
 * @example
 * ```ts
 * await store.listMediaByUploader("@alice:example.org", { limit: DEFAULT_METADATA_LIMITS.maxLimit });
 * ```
 */
export const DEFAULT_METADATA_LIMITS = {
  /** Items per page when `limit` is not given. @defaultValue 100 */
  limit: 100,
  /** The largest `limit` accepted; larger ones are refused with `M_INVALID_PARAM`, never clamped. @defaultValue 1000 */
  maxLimit: 1000,
} as const;

const KINDS: readonly MediaRecordKind[] = ["local", "remote", "preview"];
const SHA256 = /^[0-9a-f]{64}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function invalid(message: string): MediaError {
  return new MediaError("M_INVALID_PARAM", message);
}

/** A string that every store can keep verbatim: no NUL, well-formed UTF-16. */
export function checkString(
  value: unknown,
  field: string,
  options: { empty?: boolean } = {},
): string {
  if (typeof value !== "string") throw invalid(`Expected a string for ${field}`);
  if (!options.empty && value.length === 0)
    throw invalid(`Expected a non-empty string for ${field}`);
  if (value.includes("\0")) throw invalid(`${field} must not contain NUL bytes`);
  if (LONE_SURROGATE.test(value))
    throw invalid(`${field} must be well-formed Unicode (lone surrogate)`);
  return value;
}

function checkNullableString(value: unknown, field: string): string | null {
  return value === null ? null : checkString(value, field, { empty: true });
}

function checkInteger(value: unknown, field: string, min = 0): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`Expected an integer >= ${min} for ${field} but received ${String(value)}`);
  }
  return value;
}

export function checkBoolean(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw invalid(`Expected a boolean for ${field}`);
  return value;
}

/** A lower-case hex SHA-256. */
export function checkSha256(value: unknown, field = "sha256"): string {
  if (typeof value !== "string" || !SHA256.test(value)) {
    throw invalid(`Expected 64 lower-case hex digits for ${field}`);
  }
  return value;
}

/** Validates a record and returns a copy holding exactly the contract's fields. */
export function checkMediaRecord(record: MediaRecord): MediaRecord {
  if (typeof record !== "object" || record === null) throw invalid("Expected a media record");
  if (!KINDS.includes(record.kind)) {
    throw invalid(
      `Expected kind to be one of ${KINDS.join(", ")} but received ${String(record.kind)}`,
    );
  }
  return {
    origin: checkString(record.origin, "origin"),
    mediaId: checkString(record.mediaId, "mediaId"),
    kind: record.kind,
    contentType: checkString(record.contentType, "contentType", { empty: true }),
    filename: checkNullableString(record.filename, "filename"),
    size: checkInteger(record.size, "size"),
    sha256: checkSha256(record.sha256),
    datastoreId: checkString(record.datastoreId, "datastoreId"),
    location: checkString(record.location, "location"),
    uploader: record.uploader === null ? null : checkString(record.uploader, "uploader"),
    createdAt: checkInteger(record.createdAt, "createdAt"),
    lastAccessAt: checkInteger(record.lastAccessAt, "lastAccessAt"),
    quarantined: checkBoolean(record.quarantined, "quarantined"),
    protected: checkBoolean(record.protected, "protected"),
  };
}

export function checkPending(pending: PendingUpload): PendingUpload {
  if (typeof pending !== "object" || pending === null) throw invalid("Expected a pending upload");
  return {
    origin: checkString(pending.origin, "origin"),
    mediaId: checkString(pending.mediaId, "mediaId"),
    creator: checkString(pending.creator, "creator"),
    createdAt: checkInteger(pending.createdAt, "createdAt"),
    expiresAt: checkInteger(pending.expiresAt, "expiresAt"),
  };
}

export function checkThumbnail(thumbnail: ThumbnailRecord): ThumbnailRecord {
  if (typeof thumbnail !== "object" || thumbnail === null)
    throw invalid("Expected a thumbnail record");
  if (thumbnail.method !== "crop" && thumbnail.method !== "scale") {
    throw invalid(`Expected method "crop" or "scale" but received ${String(thumbnail.method)}`);
  }
  return {
    origin: checkString(thumbnail.origin, "origin"),
    mediaId: checkString(thumbnail.mediaId, "mediaId"),
    width: checkInteger(thumbnail.width, "width", 1),
    height: checkInteger(thumbnail.height, "height", 1),
    method: thumbnail.method,
    animated: checkBoolean(thumbnail.animated, "animated"),
    contentType: checkString(thumbnail.contentType, "contentType", { empty: true }),
    size: checkInteger(thumbnail.size, "size"),
    sha256: checkSha256(thumbnail.sha256),
    datastoreId: checkString(thumbnail.datastoreId, "datastoreId"),
    location: checkString(thumbnail.location, "location"),
    createdAt: checkInteger(thumbnail.createdAt, "createdAt"),
  };
}

export function checkPreview(entry: PreviewCacheEntry): PreviewCacheEntry {
  if (typeof entry !== "object" || entry === null) throw invalid("Expected a preview cache entry");
  return {
    url: checkString(entry.url, "url"),
    bucket: checkInteger(entry.bucket, "bucket"),
    language: checkString(entry.language, "language", { empty: true }),
    json: checkString(entry.json, "json", { empty: true }),
    expiresAt: checkInteger(entry.expiresAt, "expiresAt"),
  };
}

export function checkKey(origin: unknown, mediaId: unknown): void {
  checkString(origin, "origin");
  checkString(mediaId, "mediaId");
}

export function checkTime(value: unknown, field: string): number {
  return checkInteger(value, field);
}

export function checkLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_METADATA_LIMITS.limit;
  if (
    typeof limit !== "number" ||
    !Number.isSafeInteger(limit) ||
    limit < 1 ||
    limit > DEFAULT_METADATA_LIMITS.maxLimit
  ) {
    throw invalid(
      `Expected an integer 1–${DEFAULT_METADATA_LIMITS.maxLimit} for limit but received ${JSON.stringify(limit) ?? typeof limit}`,
    );
  }
  return limit;
}

export function checkMaxPending(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return checkInteger(value, "maxPendingPerUser", 1);
}

/** Latest access per media, so a batch writes each row once. */
export function checkAccesses(
  accesses: ReadonlyArray<{ origin: string; mediaId: string; at: number }>,
): Array<{ origin: string; mediaId: string; at: number }> {
  if (!Array.isArray(accesses)) throw invalid("Expected an array of accesses");
  const latest = new Map<string, { origin: string; mediaId: string; at: number }>();
  for (const a of accesses as ReadonlyArray<{ origin: string; mediaId: string; at: number }>) {
    const origin = checkString(a.origin, "origin");
    const mediaId = checkString(a.mediaId, "mediaId");
    const at = checkInteger(a.at, "at");
    const key = mediaKey(origin, mediaId);
    const seen = latest.get(key);
    if (!seen || seen.at < at) latest.set(key, { origin, mediaId, at });
  }
  // Sorted, so concurrent batches lock rows in the same order.
  return [...latest.values()].sort(
    (a, b) => compareStrings(a.origin, b.origin) || compareStrings(a.mediaId, b.mediaId),
  );
}

/** The target in a normal form: a hash, an uploader, or a list of (origin, mediaId). */
export type NormalTarget =
  { sha256: string } | { uploader: string } | { mxcs: Array<{ origin: string; mediaId: string }> };

export function checkTarget(target: QuarantineTarget): NormalTarget {
  if (typeof target !== "object" || target === null) throw invalid("Expected a quarantine target");
  if ("sha256" in target) return { sha256: checkSha256(target.sha256) };
  if ("uploader" in target) return { uploader: checkString(target.uploader, "uploader") };
  const list = "mxcs" in target ? target.mxcs : "mxc" in target ? [target.mxc] : undefined;
  if (!Array.isArray(list))
    throw invalid("Expected one of mxc, mxcs, sha256 or uploader to quarantine");
  return {
    mxcs: (list as ReadonlyArray<{ origin: string; mediaId: string }>).map((m) => {
      if (typeof m !== "object" || m === null)
        throw invalid("Expected { origin, mediaId } in mxcs");
      return {
        origin: checkString(m.origin, "mxc.origin"),
        mediaId: checkString(m.mediaId, "mxc.mediaId"),
      };
    }),
  };
}

/** NUL cannot occur in a stored string, so it separates the parts of a key unambiguously. */
export function mediaKey(origin: string, mediaId: string): string {
  return `${origin}\0${mediaId}`;
}

/** Code-point order (what PostgreSQL's "C" collation and SQLite's BINARY use on UTF-8). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Position after the last item of a page of a user's uploads (newest first). */
export interface UploaderCursor {
  createdAt: number;
  origin: string;
  mediaId: string;
}

export function encodeCursor(c: UploaderCursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.origin, c.mediaId]), "utf8").toString(
    "base64url",
  );
}

export function decodeCursor(cursor: unknown): UploaderCursor | undefined {
  if (cursor === undefined) return undefined;
  if (typeof cursor !== "string" || cursor.length > 4096) throw invalid("Invalid cursor");
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid("Invalid cursor");
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    typeof parsed[0] !== "number" ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== "string" ||
    typeof parsed[2] !== "string" ||
    parsed[1].includes("\0") ||
    parsed[2].includes("\0") ||
    LONE_SURROGATE.test(parsed[1]) ||
    LONE_SURROGATE.test(parsed[2])
  ) {
    throw invalid("Invalid cursor");
  }
  return { createdAt: parsed[0], origin: parsed[1], mediaId: parsed[2] };
}

/** Newest first: createdAt, then origin, then mediaId, all descending. */
export function compareNewestFirst(a: UploaderCursor, b: UploaderCursor): number {
  return (
    b.createdAt - a.createdAt ||
    compareStrings(b.origin, a.origin) ||
    compareStrings(b.mediaId, a.mediaId)
  );
}

export function cannotOverwrite(origin: string, mediaId: string): MediaError {
  return new MediaError("M_CANNOT_OVERWRITE_MEDIA", `Media ${origin}/${mediaId} already exists`);
}

export function pendingNotFound(origin: string, mediaId: string): MediaError {
  return new MediaError(
    "M_NOT_FOUND",
    `No pending upload ${origin}/${mediaId} (unknown or expired)`,
  );
}

export function pendingLimit(creator: string, max: number): MediaError {
  return new MediaError(
    "M_LIMIT_EXCEEDED",
    `${creator} already has ${max} pending uploads (maxPendingPerUser); finish or let them expire first`,
  );
}
