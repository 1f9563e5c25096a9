// The preview cache seam. Its key parts match the metadata store's preview table
// (url + hour bucket + language), so a repository backs it with getPreview/putPreview.
import type { MetadataStore } from "../metadata/types.js";

/** What a preview is cached under. */
export interface PreviewCacheKey {
  /** The normalised URL (`new URL(url).href`). */
  url: string;
  /** Start of the hour of the request's `ts`, in ms since the epoch: `ts - (ts % 3_600_000)`. */
  bucket: number;
  /** The `Accept-Language` the preview was fetched with; `""` for none. */
  language: string;
}

/** A cached preview: the JSON of a result (`{ og }`) or of an error (`{ error }`). */
export interface PreviewCacheValue {
  json: string;
  /** Milliseconds since the epoch; the fetcher ignores entries past it. */
  expiresAt: number;
}

/**
 * Where previews are cached. Implementations should not throw; if they do, the fetcher
 * treats it as a miss (get) or ignores it (set).
 *
 * @example
 * ```ts
 * const cache: PreviewCache = {
 *   get: async (key) => store.get(JSON.stringify(key)),
 *   set: async (key, value) => void store.set(JSON.stringify(key), value),
 * };
 * ```
 */
export interface PreviewCache {
  get(key: PreviewCacheKey): Promise<PreviewCacheValue | undefined>;
  set(key: PreviewCacheKey, value: PreviewCacheValue): Promise<void>;
}

/** The length of a cache bucket: one hour. */
export const PREVIEW_BUCKET_MS = 3_600_000;

/**
 * The hour bucket of a timestamp (rounded down), the part of the key that makes repeated
 * previews of the same URL in the same hour hit the cache.
 *
 * @example
 * ```ts
 * previewBucket(Date.UTC(2024, 0, 1, 10, 59)); // Date.UTC(2024, 0, 1, 10)
 * ```
 */
export function previewBucket(ts: number): number {
  return Math.floor(ts / PREVIEW_BUCKET_MS) * PREVIEW_BUCKET_MS;
}

/**
 * An in-process preview cache bounded by entry count (least recently set first out).
 *
 * @example
 * ```ts
 * const fetcher = createPreviewFetcher({ fetch: safeFetch, cache: memoryPreviewCache({ maxEntries: 10_000 }) });
 * ```
 */
export function memoryPreviewCache(options: { maxEntries: number }): PreviewCache {
  const { maxEntries } = options;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(
      `Expected an integer >= 1 for maxEntries but received ${String(maxEntries)}`,
    );
  }
  const entries = new Map<string, PreviewCacheValue>();
  const id = (key: PreviewCacheKey): string => `${key.bucket}\u0000${key.language}\u0000${key.url}`;
  return {
    get(key) {
      return Promise.resolve(entries.get(id(key)));
    },
    set(key, value) {
      const k = id(key);
      entries.delete(k);
      entries.set(k, value);
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      return Promise.resolve();
    },
  };
}

/**
 * Backs a {@link PreviewCache} with a metadata store's preview table.
 *
 * @example
 * ```ts
 * const fetcher = createPreviewFetcher({ fetch: safeFetch, cache: metadataPreviewCache(metadataStore) });
 * ```
 */
export function metadataPreviewCache(
  store: Pick<MetadataStore, "getPreview" | "putPreview">,
): PreviewCache {
  return {
    async get(key) {
      const entry = await store.getPreview(key.url, key.bucket, key.language);
      return entry === undefined ? undefined : { json: entry.json, expiresAt: entry.expiresAt };
    },
    async set(key, value) {
      await store.putPreview({ ...key, json: value.json, expiresAt: value.expiresAt });
    },
  };
}
