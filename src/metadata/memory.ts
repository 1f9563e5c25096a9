import { uploaderComparator, userStatistics } from "./admin.js";
import { checkedMetadataStore, type MediaAccess, type MetadataBackend } from "./checked.js";
import { cannotOverwrite, pendingLimit, pendingNotFound } from "./errors.js";
import {
  compareNewestFirst,
  compareStrings,
  compareThumbnails,
  mediaKey,
  type UploaderCursor,
} from "./order.js";
import type {
  MediaRecord,
  MetadataStore,
  PendingUpload,
  PreviewCacheEntry,
  QuarantineResult,
  ThumbnailRecord,
  UsageStats,
} from "./types.js";
import type { NormalTarget } from "./validate.js";

/** Everything a memory store holds; records are keyed by {@link mediaKey}. */
interface MemoryState {
  readonly media: Map<string, MediaRecord>;
  /** sha256 → keys of the records with those bytes. */
  readonly bySha256: Map<string, Set<string>>;
  /** uploader → keys of their records. */
  readonly byUploader: Map<string, Set<string>>;
  readonly pending: Map<string, PendingUpload>;
  /** media key → thumbnail key → thumbnail. */
  readonly thumbnails: Map<string, Map<string, ThumbnailRecord>>;
  readonly previews: Map<string, PreviewCacheEntry>;
  readonly usage: Map<string, UsageStats>;
}

const thumbnailKey = (thumbnail: ThumbnailRecord): string =>
  `${thumbnail.width}x${thumbnail.height}:${thumbnail.method}:${thumbnail.animated ? 1 : 0}`;
const previewKey = (url: string, bucket: number, language: string): string =>
  `${url}\0${bucket}\0${language}`;
const copy = (record: MediaRecord): MediaRecord => ({ ...record });

function addToIndex(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFromIndex(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

function addUsage(state: MemoryState, record: MediaRecord, sign: 1 | -1): void {
  if (record.kind !== "local" || record.uploader === null) return;
  const usage = state.usage.get(record.uploader) ?? { bytes: 0, count: 0 };
  state.usage.set(record.uploader, {
    bytes: usage.bytes + sign * record.size,
    count: usage.count + sign,
  });
}

function insertMedia(state: MemoryState, record: MediaRecord): boolean {
  const key = mediaKey(record.origin, record.mediaId);
  if (state.media.has(key)) return false;
  state.media.set(key, record);
  addToIndex(state.bySha256, record.sha256, key);
  if (record.uploader !== null) addToIndex(state.byUploader, record.uploader, key);
  addUsage(state, record, 1);
  return true;
}

function recordsOf(state: MemoryState, keys: Iterable<string> | undefined): MediaRecord[] {
  return [...(keys ?? [])].map((key) => state.media.get(key)!);
}

function listMediaByUploader(
  state: MemoryState,
  uploader: string,
  after: UploaderCursor | undefined,
  count: number,
): MediaRecord[] {
  return recordsOf(state, state.byUploader.get(uploader))
    .filter((record) => after === undefined || compareNewestFirst(record, after) > 0)
    .sort(compareNewestFirst)
    .slice(0, count)
    .map(copy);
}

type AccessPosition = Pick<MediaRecord, "lastAccessAt" | "origin" | "mediaId">;
const byLastAccess = (a: AccessPosition, b: AccessPosition): number =>
  a.lastAccessAt - b.lastAccessAt ||
  compareStrings(a.origin, b.origin) ||
  compareStrings(a.mediaId, b.mediaId);

function listRemoteMediaAccessedBefore(state: MemoryState, before: number, limit: number) {
  return [...state.media.values()]
    .filter(
      (record) => record.kind === "remote" && !record.protected && record.lastAccessAt < before,
    )
    .sort(byLastAccess)
    .slice(0, limit)
    .map(copy);
}

function touchMedia(state: MemoryState, accesses: MediaAccess[]): void {
  for (const access of accesses) {
    const record = state.media.get(mediaKey(access.origin, access.mediaId));
    if (record && record.lastAccessAt < access.at) record.lastAccessAt = access.at;
  }
}

function deleteMedia(state: MemoryState, origin: string, mediaId: string) {
  const key = mediaKey(origin, mediaId);
  const record = state.media.get(key);
  if (!record) return undefined;
  state.media.delete(key);
  removeFromIndex(state.bySha256, record.sha256, key);
  if (record.uploader !== null) removeFromIndex(state.byUploader, record.uploader, key);
  addUsage(state, record, -1);
  const thumbnails = [...(state.thumbnails.get(key)?.values() ?? [])].sort(compareThumbnails);
  state.thumbnails.delete(key);
  return { media: record, thumbnails };
}

function setProtected(state: MemoryState, origin: string, mediaId: string, value: boolean) {
  const record = state.media.get(mediaKey(origin, mediaId));
  if (!record) return false;
  record.protected = value;
  return true;
}

/** The hashes a target names: quarantine follows the bytes to every record sharing them. */
function hashesOf(state: MemoryState, target: NormalTarget): Set<string> {
  if ("sha256" in target) return new Set([target.sha256]);
  if ("uploader" in target) {
    return new Set(recordsOf(state, state.byUploader.get(target.uploader)).map((r) => r.sha256));
  }
  const hashes = new Set<string>();
  for (const mxc of target.mxcs) {
    const record = state.media.get(mediaKey(mxc.origin, mxc.mediaId));
    if (record) hashes.add(record.sha256);
  }
  return hashes;
}

function quarantine(state: MemoryState, target: NormalTarget, value: boolean) {
  const affected: QuarantineResult["affected"] = [];
  for (const sha256 of hashesOf(state, target)) {
    for (const record of recordsOf(state, state.bySha256.get(sha256))) {
      if (record.quarantined === value || (value && record.protected)) continue;
      record.quarantined = value;
      affected.push({ origin: record.origin, mediaId: record.mediaId, sha256 });
    }
  }
  return affected;
}

function createPending(state: MemoryState, pending: PendingUpload, max: number | undefined) {
  const key = mediaKey(pending.origin, pending.mediaId);
  if (state.pending.has(key) || state.media.has(key)) return false;
  if (max !== undefined) {
    let unexpired = 0;
    for (const other of state.pending.values()) {
      if (other.creator === pending.creator && other.expiresAt > pending.createdAt) unexpired++;
    }
    if (unexpired >= max) throw pendingLimit(pending.creator, max);
  }
  state.pending.set(key, pending);
  return true;
}

function completePending(state: MemoryState, record: MediaRecord, now: number): void {
  const key = mediaKey(record.origin, record.mediaId);
  const pending = state.pending.get(key);
  if (!pending || pending.expiresAt <= now || !insertMedia(state, record)) {
    if (state.media.has(key)) throw cannotOverwrite(record.origin, record.mediaId);
    throw pendingNotFound(record.origin, record.mediaId);
  }
  state.pending.delete(key);
}

/** Deletes the entries with `expiresAt <= now`; returns how many. */
function deleteExpired(entries: Map<string, { expiresAt: number }>, now: number): number {
  let deleted = 0;
  for (const [key, entry] of entries) {
    if (entry.expiresAt <= now) {
      entries.delete(key);
      deleted++;
    }
  }
  return deleted;
}

function putThumbnail(state: MemoryState, thumbnail: ThumbnailRecord): void {
  const key = mediaKey(thumbnail.origin, thumbnail.mediaId);
  let thumbnails = state.thumbnails.get(key);
  if (!thumbnails) state.thumbnails.set(key, (thumbnails = new Map<string, ThumbnailRecord>()));
  thumbnails.set(thumbnailKey(thumbnail), thumbnail);
}

function memoryBackend(state: MemoryState): MetadataBackend {
  return {
    insertMedia: (record) => insertMedia(state, record),
    getMedia: (origin, mediaId) => {
      const record = state.media.get(mediaKey(origin, mediaId));
      return record && copy(record);
    },
    getMediaBySha256: (sha256) =>
      recordsOf(state, state.bySha256.get(sha256))
        .map(copy)
        .sort((a, b) => compareStrings(a.origin, b.origin) || compareStrings(a.mediaId, b.mediaId)),
    listMediaByUploader: (uploader, after, count) =>
      listMediaByUploader(state, uploader, after, count),
    listRemoteMediaAccessedBefore: (before, limit) =>
      listRemoteMediaAccessedBefore(state, before, limit),
    touchMedia: (accesses) => touchMedia(state, accesses),
    deleteMedia: (origin, mediaId) => deleteMedia(state, origin, mediaId),
    setProtected: (origin, mediaId, value) => setProtected(state, origin, mediaId, value),
    quarantine: (target, value) => quarantine(state, target, value),
    createPending: (pending, max) => createPending(state, pending, max),
    getPending: (origin, mediaId) => {
      const pending = state.pending.get(mediaKey(origin, mediaId));
      return pending && { ...pending };
    },
    completePending: (record, now) => completePending(state, record, now),
    deleteExpiredPending: (now) => deleteExpired(state.pending, now),
    putThumbnail: (thumbnail) => putThumbnail(state, thumbnail),
    getThumbnails: (origin, mediaId) =>
      [...(state.thumbnails.get(mediaKey(origin, mediaId))?.values() ?? [])]
        .map((thumbnail) => ({ ...thumbnail }))
        .sort(compareThumbnails),
    // --- Background jobs: orphan blob collection ---
    getThumbnailsBySha256: (sha256) =>
      [...state.thumbnails.values()]
        .flatMap((byKey) => [...byKey.values()])
        .filter((thumbnail) => thumbnail.sha256 === sha256)
        .map((thumbnail) => ({ ...thumbnail }))
        .sort(
          (a, b) =>
            compareStrings(a.origin, b.origin) ||
            compareStrings(a.mediaId, b.mediaId) ||
            compareThumbnails(a, b),
        ),
    getPreview: (url, bucket, language) => {
      const entry = state.previews.get(previewKey(url, bucket, language));
      return entry && { ...entry };
    },
    putPreview: (entry) =>
      state.previews.set(previewKey(entry.url, entry.bucket, entry.language), entry),
    deleteExpiredPreviews: (now) => deleteExpired(state.previews, now),
    getUsage: (userId) => {
      const usage = state.usage.get(userId);
      return usage && { ...usage };
    },
    pageMediaByUploader: (uploader, query) => {
      const all = recordsOf(state, state.byUploader.get(uploader)).sort(uploaderComparator(query));
      const items = all.slice(query.offset, query.offset + query.limit).map(copy);
      return { items, total: all.length };
    },
    listExpiredLocalMedia: (query) =>
      [...state.media.values()]
        .filter(
          (r) =>
            r.kind === "local" &&
            !r.protected &&
            !r.quarantined &&
            r.lastAccessAt < query.before &&
            r.size > query.sizeGt &&
            (query.after === undefined || byLastAccess(r, query.after) > 0),
        )
        .sort(byLastAccess)
        .slice(0, query.limit)
        .map(copy),
    getUserMediaStatistics: (query) => userStatistics(state.media.values(), query),
    migrate: async () => ({ applied: [], version: 0 }),
    close: () => {},
  };
}

/**
 * A metadata store in process memory, for tests and tiny single-process deployments.
 * Everything is lost when the process exits. Every method does its work synchronously
 * before its first `await`, so each one is atomic with respect to the others.
 *
 * @example
 * ```ts
 * import { memoryMetadataStore } from "matrix-media-kit/metadata";
 *
 * const metadata = memoryMetadataStore();
 * await metadata.insertMedia(record);
 * await metadata.getMedia("example.org", record.mediaId);
 * ```
 */
export function memoryMetadataStore(): MetadataStore {
  const state: MemoryState = {
    media: new Map(),
    bySha256: new Map(),
    byUploader: new Map(),
    pending: new Map(),
    thumbnails: new Map(),
    previews: new Map(),
    usage: new Map(),
  };
  return checkedMetadataStore("memory", memoryBackend(state));
}
