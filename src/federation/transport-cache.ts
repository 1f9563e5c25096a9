// A small bounded map with per-entry expiry on an injectable clock, for discovery results.
// Insertion order is eviction order: the oldest entry goes first when the bound is reached.

/** @internal */
export interface ExpiringCache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V, ttlMs: number): void;
  clear(): void;
  readonly size: number;
}

/** @internal */
export function createExpiringCache<V>(maxEntries: number, now: () => number): ExpiringCache<V> {
  const entries = new Map<string, { value: V; expiresAt: number }>();
  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expiresAt <= now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    set(key, value, ttlMs) {
      entries.delete(key);
      if (ttlMs <= 0) return;
      entries.set(key, { value, expiresAt: now() + ttlMs });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
    clear: () => entries.clear(),
    get size() {
      return entries.size;
    },
  };
}
