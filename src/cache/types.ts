/** Options of {@link MediaCache.set}. */
export interface CacheSetOptions {
  /** Time to live; omitted means "until evicted". */
  ttlMs?: number;
}

/**
 * A cache of blobs by key. A backend failure is a miss (for `get`) or a no-op (for
 * `set`/`delete`): a cache never throws because Redis is down, and never blocks for
 * longer than its command timeout.
 */
export interface MediaCache {
  get(key: string): Promise<Buffer | undefined>;
  set(key: string, value: Buffer, options?: CacheSetOptions): Promise<void>;
  /** Removes a key here and, for shared tiers, in every process. */
  delete(key: string): Promise<void>;
  /**
   * Returns the cached value or calls `loader` once for N concurrent misses of the same
   * key (single-flight), caching what it returns. Errors of `loader` propagate to every
   * waiter and are not cached.
   */
  getOrLoad(
    key: string,
    loader: () => Promise<Buffer | undefined>,
    options?: CacheSetOptions,
  ): Promise<Buffer | undefined>;
  /** Releases connections and timers. */
  close?(): Promise<void>;
}
