// Which blobs a cached datastore holds locally: least recently used first, bounded by bytes.
import { LRUCache } from "lru-cache";

/** @internal */
export class CopyIndex {
  /** Copies by key → bytes; lru-cache evicts the least recently used past `maxBytes`. */
  readonly #copies: LRUCache<string, number>;
  /**
   * Empty copies: lru-cache sizes must be positive integers, and an empty copy never counts
   * toward the bound, so evicting it would free nothing.
   */
  readonly #empty = new Set<string>();
  /** Keys dropped from the index whose local copies still have to be deleted. */
  #evicted: string[] = [];
  /** Copies dropped to stay under `maxBytes`. */
  evictions = 0;

  constructor(private readonly maxBytes: number) {
    this.#copies = new LRUCache<string, number>({
      maxSize: maxBytes,
      sizeCalculation: (bytes) => bytes,
      dispose: (_bytes, key, reason) => {
        if (reason === "evict") this.#dropped(key);
      },
    });
  }

  #dropped(key: string): void {
    this.evictions++;
    this.#evicted.push(key);
  }

  get entries(): number {
    return this.#copies.size + this.#empty.size;
  }

  get bytes(): number {
    return this.#copies.calculatedSize;
  }

  has(key: string): boolean {
    return this.#empty.has(key) || this.#copies.has(key);
  }

  /** The copy's size, without making it more recently used. */
  peek(key: string): number | undefined {
    return this.#empty.has(key) ? 0 : this.#copies.peek(key);
  }

  /** Marks a copy as just used. */
  touch(key: string): void {
    this.#copies.get(key);
  }

  /** Records a copy as the most recently used, evicting older ones past the bound. */
  remember(key: string, bytes: number): void {
    this.forget(key);
    if (bytes === 0) this.#empty.add(key);
    // Only a copy found at start can be larger than the bound (maxBytes was lowered since).
    else if (bytes > this.maxBytes) this.#dropped(key);
    else this.#copies.set(key, bytes);
  }

  forget(key: string): void {
    this.#empty.delete(key);
    this.#copies.delete(key);
  }

  /** The keys evicted since the last call (at most `limit`; the rest stay for the next). */
  takeEvicted(limit = Infinity): string[] {
    const keys = this.#evicted.slice(0, limit);
    this.#evicted = this.#evicted.slice(keys.length);
    return keys;
  }

  /** Keys of copies evicted whose local copies are still to be deleted. */
  get pendingEvictions(): number {
    return this.#evicted.length;
  }

  /** Every key held, least recently used first. */
  keys(): string[] {
    return [...this.#empty, ...[...this.#copies.rkeys()]];
  }
}
