// The one validator of every store's arguments, so all of them accept and refuse exactly the
// same values with the same errors (PostgreSQL cannot store NUL bytes; the others then refuse
// them too). `checked.ts` applies it before any store sees a value.
import { MediaError } from "../errors.js";
import type {
  MediaRecord,
  MediaRecordKind,
  PendingUpload,
  PreviewCacheEntry,
  QuarantineTarget,
  ThumbnailRecord,
} from "./types.js";
import { compareStrings, mediaKey, type UploaderCursor } from "./order.js";

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
export function validateString(
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

function validateNullableString(value: unknown, field: string): string | null {
  return value === null ? null : validateString(value, field, { empty: true });
}

function validateInteger(value: unknown, field: string, min = 0): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`Expected an integer >= ${min} for ${field} but received ${String(value)}`);
  }
  return value;
}

export function validateBoolean(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw invalid(`Expected a boolean for ${field}`);
  return value;
}

/** A lower-case hex SHA-256. */
export function validateSha256(value: unknown, field = "sha256"): string {
  if (typeof value !== "string" || !SHA256.test(value)) {
    throw invalid(`Expected 64 lower-case hex digits for ${field}`);
  }
  return value;
}

/** Validates a record and returns a copy holding exactly the contract's fields. */
export function validateMediaRecord(record: MediaRecord): MediaRecord {
  if (typeof record !== "object" || record === null) throw invalid("Expected a media record");
  if (!KINDS.includes(record.kind)) {
    throw invalid(
      `Expected kind to be one of ${KINDS.join(", ")} but received ${String(record.kind)}`,
    );
  }
  return {
    origin: validateString(record.origin, "origin"),
    mediaId: validateString(record.mediaId, "mediaId"),
    kind: record.kind,
    contentType: validateString(record.contentType, "contentType", { empty: true }),
    filename: validateNullableString(record.filename, "filename"),
    size: validateInteger(record.size, "size"),
    sha256: validateSha256(record.sha256),
    datastoreId: validateString(record.datastoreId, "datastoreId"),
    location: validateString(record.location, "location"),
    uploader: record.uploader === null ? null : validateString(record.uploader, "uploader"),
    createdAt: validateInteger(record.createdAt, "createdAt"),
    lastAccessAt: validateInteger(record.lastAccessAt, "lastAccessAt"),
    quarantined: validateBoolean(record.quarantined, "quarantined"),
    protected: validateBoolean(record.protected, "protected"),
  };
}

export function validatePendingUpload(pending: PendingUpload): PendingUpload {
  if (typeof pending !== "object" || pending === null) throw invalid("Expected a pending upload");
  return {
    origin: validateString(pending.origin, "origin"),
    mediaId: validateString(pending.mediaId, "mediaId"),
    creator: validateString(pending.creator, "creator"),
    createdAt: validateInteger(pending.createdAt, "createdAt"),
    expiresAt: validateInteger(pending.expiresAt, "expiresAt"),
  };
}

export function validateThumbnailRecord(thumbnail: ThumbnailRecord): ThumbnailRecord {
  if (typeof thumbnail !== "object" || thumbnail === null)
    throw invalid("Expected a thumbnail record");
  if (thumbnail.method !== "crop" && thumbnail.method !== "scale") {
    throw invalid(`Expected method "crop" or "scale" but received ${String(thumbnail.method)}`);
  }
  return {
    origin: validateString(thumbnail.origin, "origin"),
    mediaId: validateString(thumbnail.mediaId, "mediaId"),
    width: validateInteger(thumbnail.width, "width", 1),
    height: validateInteger(thumbnail.height, "height", 1),
    method: thumbnail.method,
    animated: validateBoolean(thumbnail.animated, "animated"),
    contentType: validateString(thumbnail.contentType, "contentType", { empty: true }),
    size: validateInteger(thumbnail.size, "size"),
    sha256: validateSha256(thumbnail.sha256),
    datastoreId: validateString(thumbnail.datastoreId, "datastoreId"),
    location: validateString(thumbnail.location, "location"),
    createdAt: validateInteger(thumbnail.createdAt, "createdAt"),
  };
}

export function validatePreviewEntry(entry: PreviewCacheEntry): PreviewCacheEntry {
  if (typeof entry !== "object" || entry === null) throw invalid("Expected a preview cache entry");
  return {
    url: validateString(entry.url, "url"),
    bucket: validateInteger(entry.bucket, "bucket"),
    language: validateString(entry.language, "language", { empty: true }),
    json: validateString(entry.json, "json", { empty: true }),
    expiresAt: validateInteger(entry.expiresAt, "expiresAt"),
  };
}

export function validateKey(origin: unknown, mediaId: unknown): void {
  validateString(origin, "origin");
  validateString(mediaId, "mediaId");
}

export function validateTime(value: unknown, field: string): number {
  return validateInteger(value, field);
}

export function validateLimit(limit: unknown): number {
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

export function validateMaxPending(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return validateInteger(value, "maxPendingPerUser", 1);
}

/** Latest access per media, so a batch writes each row once. */
export function validateAccesses(
  accesses: ReadonlyArray<{ origin: string; mediaId: string; at: number }>,
): Array<{ origin: string; mediaId: string; at: number }> {
  if (!Array.isArray(accesses)) throw invalid("Expected an array of accesses");
  const latest = new Map<string, { origin: string; mediaId: string; at: number }>();
  for (const a of accesses as ReadonlyArray<{ origin: string; mediaId: string; at: number }>) {
    const origin = validateString(a.origin, "origin");
    const mediaId = validateString(a.mediaId, "mediaId");
    const at = validateInteger(a.at, "at");
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

export function validateQuarantineTarget(target: QuarantineTarget): NormalTarget {
  if (typeof target !== "object" || target === null) throw invalid("Expected a quarantine target");
  if ("sha256" in target) return { sha256: validateSha256(target.sha256) };
  if ("uploader" in target) return { uploader: validateString(target.uploader, "uploader") };
  const list = "mxcs" in target ? target.mxcs : "mxc" in target ? [target.mxc] : undefined;
  if (!Array.isArray(list))
    throw invalid("Expected one of mxc, mxcs, sha256 or uploader to quarantine");
  return {
    mxcs: (list as ReadonlyArray<{ origin: string; mediaId: string }>).map((m) => {
      if (typeof m !== "object" || m === null)
        throw invalid("Expected { origin, mediaId } in mxcs");
      return {
        origin: validateString(m.origin, "mxc.origin"),
        mediaId: validateString(m.mediaId, "mxc.mediaId"),
      };
    }),
  };
}

/** The position a `listMediaByUploader` cursor stands for; `undefined` for the first page. */
export function validateCursor(cursor: unknown): UploaderCursor | undefined {
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
