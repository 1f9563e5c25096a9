// The preview cache seam of a fetcher used on its own. A media repository caches previews
// itself (in its metadata store, with the og:image already stored as mxc://), so it gives
// the fetcher no cache.
import { LRUCache } from "lru-cache";
import { MediaError } from "../errors.js";
import { optionError } from "./options.js";

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
 * An in-process preview cache bounded by entry count (least recently set first out: a read
 * does not refresh an entry, so a popular preview is still refetched once a day). Invalid
 * options throw a `ConfigError`.
 *
 * @example
 * ```ts
 * const fetcher = createPreviewFetcher({ fetch: safeFetch, cache: memoryPreviewCache({ maxEntries: 10_000 }) });
 * ```
 */
export function memoryPreviewCache(options: { maxEntries: number }): PreviewCache {
  const { maxEntries } = options;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw optionError("memoryPreviewCache", "maxEntries", "an integer >= 1", maxEntries);
  }
  const entries = new LRUCache<string, PreviewCacheValue>({ max: maxEntries });
  return {
    get(key) {
      return Promise.resolve(entries.peek(cacheId(key)));
    },
    set(key, value) {
      entries.set(cacheId(key), value);
      return Promise.resolve();
    },
  };
}

/** The one string a key is coalesced and stored under. @internal */
export function cacheId(key: PreviewCacheKey): string {
  return `${key.bucket}\u0000${key.language}\u0000${key.url}`;
}

/** The JSON a {@link PreviewCacheValue} carries. */
interface CachedJson {
  og?: Record<string, string | number>;
  error?: { errcode: string; error: string; status: number };
}

/**
 * A live cached preview, a thrown cached error, or undefined (a miss, an expired entry, or a
 * cache that failed: a cache that cannot answer is a cache that misses).
 * @internal
 */
export async function readCachedPreview(
  cache: PreviewCache,
  key: PreviewCacheKey,
  now: number,
): Promise<Record<string, string | number> | undefined> {
  let entry;
  try {
    entry = await cache.get(key);
  } catch {
    return undefined;
  }
  if (!entry || entry.expiresAt <= now) return undefined;
  let parsed: CachedJson;
  try {
    parsed = JSON.parse(entry.json) as CachedJson;
  } catch {
    return undefined;
  }
  if (parsed.error) {
    throw new MediaError(parsed.error.errcode, parsed.error.error, {
      status: parsed.error.status,
    });
  }
  return parsed.og;
}

/** Stores a result (`og`) or a MediaError; a cache that cannot store is ignored. @internal */
export async function writeCachedPreview(
  cache: PreviewCache,
  key: PreviewCacheKey,
  value: { og: Record<string, string | number> } | { error: MediaError },
  expiresAt: number,
): Promise<void> {
  const json: CachedJson =
    "og" in value
      ? { og: value.og }
      : {
          error: {
            errcode: value.error.errcode,
            error: value.error.message,
            status: value.error.status,
          },
        };
  try {
    await cache.set(key, { json: JSON.stringify(json), expiresAt });
  } catch {
    // A cache that cannot store is a cache that misses.
  }
}
