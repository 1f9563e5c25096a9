// Every store is a backend behind this one front: the front validates and normalises each
// argument (so memory, PostgreSQL and SQLite refuse the same values with the same errors),
// turns "not inserted" into the shared errors, pages, and publishes diagnostics. Backends
// see only valid values and may answer synchronously (memory, SQLite), which keeps each
// method of those stores atomic: all of its work happens before the front's first `await`.
import {
  validateExpiredQuery,
  validateStatisticsQuery,
  validateUploaderQuery,
  type CountedPage,
  type NormalExpiredQuery,
  type NormalStatisticsQuery,
  type NormalUploaderQuery,
  type UserMediaStatistics,
} from "./admin.js";
import { publishQuarantine } from "./diagnostics.js";
import { cannotOverwrite } from "./errors.js";
import { encodeCursor, type UploaderCursor } from "./order.js";
import type {
  MediaRecord,
  MetadataStore,
  MigrationResult,
  PendingUpload,
  PreviewCacheEntry,
  QuarantineResult,
  ThumbnailRecord,
  UsageStats,
} from "./types.js";
import {
  validateAccesses,
  validateBoolean,
  validateCursor,
  validateKey,
  validateLimit,
  validateMaxPending,
  validateMediaRecord,
  validatePendingUpload,
  validatePreviewEntry,
  validateQuarantineTarget,
  validateSha256,
  validateString,
  validateThumbnailRecord,
  validateTime,
  type NormalTarget,
} from "./validate.js";

type Awaitable<T> = T | Promise<T>;

/** One media's latest access in a batch. */
export interface MediaAccess {
  origin: string;
  mediaId: string;
  at: number;
}

/**
 * @internal What a store implements; every argument has been validated. Methods may return
 * plain values: the front is async.
 */
export interface MetadataBackend {
  /** False when (origin, mediaId) is taken. */
  insertMedia(record: MediaRecord): Awaitable<boolean>;
  getMedia(origin: string, mediaId: string): Awaitable<MediaRecord | undefined>;
  getMediaBySha256(sha256: string): Awaitable<MediaRecord[]>;
  /** Up to `count` of the uploader's records after `after`, newest first. */
  listMediaByUploader(
    uploader: string,
    after: UploaderCursor | undefined,
    count: number,
  ): Awaitable<MediaRecord[]>;
  listRemoteMediaAccessedBefore(before: number, limit: number): Awaitable<MediaRecord[]>;
  /** At least one access, one per media, sorted by (origin, mediaId). */
  touchMedia(accesses: MediaAccess[]): Awaitable<void>;
  deleteMedia(
    origin: string,
    mediaId: string,
  ): Awaitable<{ media: MediaRecord; thumbnails: ThumbnailRecord[] } | undefined>;
  setProtected(origin: string, mediaId: string, value: boolean): Awaitable<boolean>;
  quarantine(target: NormalTarget, value: boolean): Awaitable<QuarantineResult["affected"]>;
  /** False when the media ID is taken by a pending upload or by media. */
  createPending(pending: PendingUpload, maxPendingPerUser: number | undefined): Awaitable<boolean>;
  getPending(origin: string, mediaId: string): Awaitable<PendingUpload | undefined>;
  completePending(record: MediaRecord, now: number): Awaitable<void>;
  deleteExpiredPending(now: number): Awaitable<number>;
  putThumbnail(thumbnail: ThumbnailRecord): Awaitable<unknown>;
  getThumbnails(origin: string, mediaId: string): Awaitable<ThumbnailRecord[]>;
  // --- Background jobs: orphan blob collection ---
  getThumbnailsBySha256(sha256: string): Awaitable<ThumbnailRecord[]>;
  getPreview(
    url: string,
    bucket: number,
    language: string,
  ): Awaitable<PreviewCacheEntry | undefined>;
  putPreview(entry: PreviewCacheEntry): Awaitable<unknown>;
  deleteExpiredPreviews(now: number): Awaitable<number>;
  getUsage(userId: string): Awaitable<UsageStats | undefined>;
  pageMediaByUploader(
    uploader: string,
    query: NormalUploaderQuery,
  ): Awaitable<CountedPage<MediaRecord>>;
  listExpiredLocalMedia(query: NormalExpiredQuery): Awaitable<MediaRecord[]>;
  getUserMediaStatistics(query: NormalStatisticsQuery): Awaitable<CountedPage<UserMediaStatistics>>;
  migrate(): Promise<MigrationResult>;
  close(): Awaitable<void>;
}

/** A store whose `migrate()` is always present. */
export type CheckedMetadataStore = MetadataStore & { migrate(): Promise<MigrationResult> };

/** Media records: insert, read, list, touch, delete, protect, quarantine. */
function mediaMethods(label: string, backend: MetadataBackend) {
  return {
    async insertMedia(record) {
      const valid = validateMediaRecord(record);
      if (!(await backend.insertMedia(valid))) throw cannotOverwrite(valid.origin, valid.mediaId);
    },
    async getMedia(origin, mediaId) {
      validateKey(origin, mediaId);
      return backend.getMedia(origin, mediaId);
    },
    async getMediaBySha256(sha256) {
      return backend.getMediaBySha256(validateSha256(sha256));
    },
    async listMediaByUploader(uploader, options = {}) {
      validateString(uploader, "uploader");
      const limit = validateLimit(options.limit);
      const after = validateCursor(options.cursor);
      // One more than a page tells whether another page follows.
      const found = await backend.listMediaByUploader(uploader, after, limit + 1);
      const items = found.slice(0, limit);
      const last = items.at(-1);
      return found.length > limit && last ? { items, nextCursor: encodeCursor(last) } : { items };
    },
    async listRemoteMediaAccessedBefore(before, options = {}) {
      validateTime(before, "before");
      return backend.listRemoteMediaAccessedBefore(before, validateLimit(options.limit));
    },
    // --- Background jobs: orphan blob collection ---
    async getThumbnailsBySha256(sha256) {
      validateString(sha256, "sha256");
      return backend.getThumbnailsBySha256(sha256);
    },
    async touchMedia(accesses) {
      const latest = validateAccesses(accesses);
      if (latest.length > 0) await backend.touchMedia(latest);
    },
    async deleteMedia(origin, mediaId) {
      validateKey(origin, mediaId);
      return backend.deleteMedia(origin, mediaId);
    },
    async setProtected(origin, mediaId, value) {
      validateKey(origin, mediaId);
      return backend.setProtected(origin, mediaId, validateBoolean(value, "protected"));
    },
    async quarantine(target, value = true) {
      const normal = validateQuarantineTarget(target);
      const affected = await backend.quarantine(normal, validateBoolean(value, "value"));
      publishQuarantine(label, value, affected);
      return { affected };
    },
  } satisfies Partial<MetadataStore>;
}

/** Pending uploads, thumbnails, previews, usage and the store's lifecycle. */
function otherMethods(backend: MetadataBackend) {
  return {
    async createPending(pending, options = {}) {
      const valid = validatePendingUpload(pending);
      const max = validateMaxPending(options.maxPendingPerUser);
      if (!(await backend.createPending(valid, max))) {
        throw cannotOverwrite(valid.origin, valid.mediaId);
      }
    },
    async getPending(origin, mediaId) {
      validateKey(origin, mediaId);
      return backend.getPending(origin, mediaId);
    },
    async completePending(record, now) {
      const valid = validateMediaRecord(record);
      await backend.completePending(valid, validateTime(now, "now"));
    },
    async deleteExpiredPending(now) {
      return backend.deleteExpiredPending(validateTime(now, "now"));
    },
    async putThumbnail(thumbnail) {
      await backend.putThumbnail(validateThumbnailRecord(thumbnail));
    },
    async getThumbnails(origin, mediaId) {
      validateKey(origin, mediaId);
      return backend.getThumbnails(origin, mediaId);
    },
    async getPreview(url, bucket, language) {
      validateString(url, "url");
      validateTime(bucket, "bucket");
      validateString(language, "language", { empty: true });
      return backend.getPreview(url, bucket, language);
    },
    async putPreview(entry) {
      await backend.putPreview(validatePreviewEntry(entry));
    },
    async deleteExpiredPreviews(now) {
      return backend.deleteExpiredPreviews(validateTime(now, "now"));
    },
    async getUsage(userId) {
      validateString(userId, "userId");
      return (await backend.getUsage(userId)) ?? { bytes: 0, count: 0 };
    },
    async pageMediaByUploader(uploader, query) {
      validateString(uploader, "uploader");
      return backend.pageMediaByUploader(uploader, validateUploaderQuery(query));
    },
    async listExpiredLocalMedia(query) {
      return backend.listExpiredLocalMedia(validateExpiredQuery(query));
    },
    async getUserMediaStatistics(query) {
      return backend.getUserMediaStatistics(validateStatisticsQuery(query));
    },
    migrate() {
      return backend.migrate();
    },
    async close() {
      await backend.close();
    },
  } satisfies Partial<CheckedMetadataStore>;
}

/**
 * @internal The {@link MetadataStore} over `backend`; `label` names it in diagnostics
 * (`postgres:public`, `sqlite:/data/metadata.sqlite3`).
 */
export function checkedMetadataStore(
  label: string,
  backend: MetadataBackend,
): CheckedMetadataStore {
  return { ...mediaMethods(label, backend), ...otherMethods(backend) };
}
