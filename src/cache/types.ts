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
  /**
   * Optional: resolves once writes started in the background (the fills of `getOrLoad`)
   * have settled — for graceful shutdown and tests.
   */
  flush?(): Promise<void>;
  /**
   * Optional: removes every entry this cache holds (for a shared tier: every entry in its
   * namespace). Never throws for a backend failure.
   */
  clear?(): Promise<void>;
  /**
   * Capability: true when the tier is shared between processes (a Redis ring). A tiered
   * cache evicts only non-shared tiers when another process announces a delete, since the
   * deleting process already removed the key from the shared ones.
   */
  readonly shared?: boolean;
}
