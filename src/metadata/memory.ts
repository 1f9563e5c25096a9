import {
  cannotOverwrite,
  checkBoolean,
  checkAccesses,
  checkKey,
  checkLimit,
  checkMaxPending,
  checkMediaRecord,
  checkPending,
  checkPreview,
  checkSha256,
  checkString,
  checkTarget,
  checkThumbnail,
  checkTime,
  compareNewestFirst,
  compareStrings,
  decodeCursor,
  encodeCursor,
  mediaKey,
  pendingLimit,
  pendingNotFound,
} from "./common.js";
import { publishQuarantine } from "./diagnostics.js";
import type {
  MediaRecord,
  MetadataStore,
  PendingUpload,
  PreviewCacheEntry,
  QuarantineResult,
  QuarantineTarget,
  ThumbnailRecord,
  UsageStats,
} from "./types.js";

const thumbKey = (t: ThumbnailRecord): string =>
  `${t.width}x${t.height}:${t.method}:${t.animated ? 1 : 0}`;
const previewKey = (url: string, bucket: number, language: string): string =>
  `${url}\0${bucket}\0${language}`;

const sortThumbnails = (list: ThumbnailRecord[]): ThumbnailRecord[] =>
  list.sort(
    (a, b) =>
      a.width - b.width ||
      a.height - b.height ||
      compareStrings(a.method, b.method) ||
      Number(a.animated) - Number(b.animated),
  );

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
  const media = new Map<string, MediaRecord>();
  const bySha256 = new Map<string, Set<string>>();
  const byUploader = new Map<string, Set<string>>();
  const pending = new Map<string, PendingUpload>();
  const thumbnails = new Map<string, Map<string, ThumbnailRecord>>();
  const previews = new Map<string, PreviewCacheEntry>();
  const usage = new Map<string, UsageStats>();

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
  function addUsage(record: MediaRecord, sign: 1 | -1): void {
    if (record.kind !== "local" || record.uploader === null) return;
    const u = usage.get(record.uploader) ?? { bytes: 0, count: 0 };
    usage.set(record.uploader, { bytes: u.bytes + sign * record.size, count: u.count + sign });
  }
  function insert(record: MediaRecord): void {
    const key = mediaKey(record.origin, record.mediaId);
    if (media.has(key)) throw cannotOverwrite(record.origin, record.mediaId);
    media.set(key, record);
    addToIndex(bySha256, record.sha256, key);
    if (record.uploader !== null) addToIndex(byUploader, record.uploader, key);
    addUsage(record, 1);
  }
  const copy = (r: MediaRecord): MediaRecord => ({ ...r });
  const unexpiredPendingOf = (creator: string, now: number): number => {
    let n = 0;
    for (const p of pending.values()) if (p.creator === creator && p.expiresAt > now) n++;
    return n;
  };

  return {
    async insertMedia(record) {
      insert(checkMediaRecord(record));
    },

    async getMedia(origin, mediaId) {
      checkKey(origin, mediaId);
      const r = media.get(mediaKey(origin, mediaId));
      return r && copy(r);
    },

    async getMediaBySha256(sha256) {
      checkSha256(sha256);
      const keys = bySha256.get(sha256) ?? new Set<string>();
      return [...keys]
        .map((k) => copy(media.get(k)!))
        .sort((a, b) => compareStrings(a.origin, b.origin) || compareStrings(a.mediaId, b.mediaId));
    },

    async listMediaByUploader(uploader, options = {}) {
      checkString(uploader, "uploader");
      const limit = checkLimit(options.limit);
      const after = decodeCursor(options.cursor);
      const all = [...(byUploader.get(uploader) ?? [])]
        .map((k) => media.get(k)!)
        .filter((r) => after === undefined || compareNewestFirst(r, after) > 0)
        .sort(compareNewestFirst);
      const items = all.slice(0, limit).map(copy);
      const last = items.at(-1);
      return all.length > limit && last ? { items, nextCursor: encodeCursor(last) } : { items };
    },

    async listRemoteMediaAccessedBefore(before, options = {}) {
      checkTime(before, "before");
      const limit = checkLimit(options.limit);
      return [...media.values()]
        .filter((r) => r.kind === "remote" && !r.protected && r.lastAccessAt < before)
        .sort(
          (a, b) =>
            a.lastAccessAt - b.lastAccessAt ||
            compareStrings(a.origin, b.origin) ||
            compareStrings(a.mediaId, b.mediaId),
        )
        .slice(0, limit)
        .map(copy);
    },

    async touchMedia(accesses) {
      for (const a of checkAccesses(accesses)) {
        const r = media.get(mediaKey(a.origin, a.mediaId));
        if (r && r.lastAccessAt < a.at) r.lastAccessAt = a.at;
      }
    },

    async deleteMedia(origin, mediaId) {
      checkKey(origin, mediaId);
      const key = mediaKey(origin, mediaId);
      const record = media.get(key);
      if (!record) return undefined;
      media.delete(key);
      removeFromIndex(bySha256, record.sha256, key);
      if (record.uploader !== null) removeFromIndex(byUploader, record.uploader, key);
      addUsage(record, -1);
      const thumbs = sortThumbnails([...(thumbnails.get(key)?.values() ?? [])]);
      thumbnails.delete(key);
      return { media: record, thumbnails: thumbs };
    },

    async setProtected(origin, mediaId, value) {
      checkKey(origin, mediaId);
      checkBoolean(value, "protected");
      const r = media.get(mediaKey(origin, mediaId));
      if (!r) return false;
      r.protected = value;
      return true;
    },

    async quarantine(target: QuarantineTarget, value = true): Promise<QuarantineResult> {
      const t = checkTarget(target);
      const hashes = new Set<string>();
      if ("sha256" in t) hashes.add(t.sha256);
      else if ("uploader" in t) {
        for (const k of byUploader.get(t.uploader) ?? []) hashes.add(media.get(k)!.sha256);
      } else {
        for (const m of t.mxcs) {
          const r = media.get(mediaKey(m.origin, m.mediaId));
          if (r) hashes.add(r.sha256);
        }
      }
      const affected: QuarantineResult["affected"] = [];
      for (const hash of hashes) {
        for (const k of bySha256.get(hash) ?? []) {
          const r = media.get(k)!;
          if (r.quarantined === value || (value && r.protected)) continue;
          r.quarantined = value;
          affected.push({ origin: r.origin, mediaId: r.mediaId, sha256: r.sha256 });
        }
      }
      publishQuarantine("memory", value, affected);
      return { affected };
    },

    async createPending(p, options = {}) {
      const entry = checkPending(p);
      const max = checkMaxPending(options.maxPendingPerUser);
      const key = mediaKey(entry.origin, entry.mediaId);
      if (pending.has(key) || media.has(key)) throw cannotOverwrite(entry.origin, entry.mediaId);
      if (max !== undefined && unexpiredPendingOf(entry.creator, entry.createdAt) >= max) {
        throw pendingLimit(entry.creator, max);
      }
      pending.set(key, entry);
    },

    async getPending(origin, mediaId) {
      checkKey(origin, mediaId);
      const p = pending.get(mediaKey(origin, mediaId));
      return p && { ...p };
    },

    async completePending(record, now) {
      const r = checkMediaRecord(record);
      checkTime(now, "now");
      const key = mediaKey(r.origin, r.mediaId);
      const p = pending.get(key);
      if (!p || p.expiresAt <= now) {
        if (media.has(key)) throw cannotOverwrite(r.origin, r.mediaId);
        throw pendingNotFound(r.origin, r.mediaId);
      }
      insert(r);
      pending.delete(key);
    },

    async deleteExpiredPending(now) {
      checkTime(now, "now");
      let n = 0;
      for (const [k, p] of pending) {
        if (p.expiresAt <= now) {
          pending.delete(k);
          n++;
        }
      }
      return n;
    },

    async putThumbnail(thumbnail) {
      const t = checkThumbnail(thumbnail);
      const key = mediaKey(t.origin, t.mediaId);
      let map = thumbnails.get(key);
      if (!map) thumbnails.set(key, (map = new Map<string, ThumbnailRecord>()));
      map.set(thumbKey(t), t);
    },

    async getThumbnails(origin, mediaId) {
      checkKey(origin, mediaId);
      const map = thumbnails.get(mediaKey(origin, mediaId));
      return sortThumbnails([...(map?.values() ?? [])].map((t) => ({ ...t })));
    },

    async getPreview(url, bucket, language) {
      checkString(url, "url");
      checkTime(bucket, "bucket");
      checkString(language, "language", { empty: true });
      const e = previews.get(previewKey(url, bucket, language));
      return e && { ...e };
    },

    async putPreview(entry) {
      const e = checkPreview(entry);
      previews.set(previewKey(e.url, e.bucket, e.language), e);
    },

    async deleteExpiredPreviews(now) {
      checkTime(now, "now");
      let n = 0;
      for (const [k, e] of previews) {
        if (e.expiresAt <= now) {
          previews.delete(k);
          n++;
        }
      }
      return n;
    },

    async getUsage(userId) {
      checkString(userId, "userId");
      const u = usage.get(userId);
      return u ? { ...u } : { bytes: 0, count: 0 };
    },

    async migrate() {
      return { applied: [], version: 0 };
    },

    async close() {},
  };
}
