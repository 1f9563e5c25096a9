// Rendezvous (highest-random-weight) hashing: every key scores every shard and goes to
// the best score. No virtual nodes to tune, an even spread for any shard names, and
// adding or removing one of N shards moves only the keys that shard wins or loses (≈1/N).
import { ConfigError } from "../errors.js";

/**
 * MurmurHash3 (x86, 32-bit) over the UTF-16 code units of `text`, two units per block.
 * Fast in JS (no encoding step) and well spread; not for security.
 *
 * @example
 * ```ts
 * import { murmur3 } from "matrix-media-kit/cache";
 * murmur3("mxc://example.org/abc"); // a stable unsigned 32-bit integer
 * ```
 */
export function murmur3(text: string, seed = 0): number {
  let h = seed | 0;
  const length = text.length;
  const pairs = length & ~1;
  let i = 0;
  for (; i < pairs; i += 2) {
    let k = (text.charCodeAt(i) & 0xffff) | (text.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < length) {
    let k = text.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= length * 2;
  return fmix32(h);
}

function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Score of a (key, shard) pair: the key hash mixed with the shard's own hash. */
function score(keyHash: number, shardHash: number): number {
  // Two rounds of a full-avalanche mixer so scores of different shards for the same key
  // are independent enough that the argmax is uniform.
  return fmix32(fmix32(keyHash ^ shardHash) + shardHash);
}

/**
 * Consistent hashing over named shards (rendezvous hashing with MurmurHash3).
 *
 * A key's owner depends only on the key and the set of names, so every process with the
 * same shard list agrees, and names may be anything stable (URLs without secrets, host
 * names). With 3 shards each gets 1/3 ± ~1.5% of 10,000 keys for any names; adding a
 * fourth moves 25% of keys, all of them to the new shard.
 *
 * @example
 * ```ts
 * import { HashRing } from "matrix-media-kit/cache";
 *
 * const ring = new HashRing(["redis-a:6379", "redis-b:6379", "redis-c:6379"]);
 * ring.shardFor("remote:matrix.org/AbCd"); // e.g. "redis-b:6379"
 * ring.shardsFor("remote:matrix.org/AbCd"); // all names, most preferred first
 * const grown = ring.withShards([...ring.shards, "redis-d:6379"]); // moves ≈1/4 of keys
 * ```
 */
export class HashRing {
  readonly #names: readonly string[];
  readonly #hashes: Uint32Array;

  /**
   * @param shards - distinct, non-empty shard names
   * @throws ConfigError (a RangeError) when a name is empty or repeated
   */
  constructor(shards: Iterable<string>) {
    const names = [...shards];
    const seen = new Set<string>();
    for (const name of names) {
      if (typeof name !== "string" || name === "") {
        throw new ConfigError(
          `Expected non-empty strings for HashRing shards but received ${JSON.stringify(name)}`,
          { option: "shards" },
        );
      }
      if (seen.has(name))
        throw new ConfigError(`HashRing shards must be distinct but "${name}" appears twice`, {
          option: "shards",
        });
      seen.add(name);
    }
    // Sorted so ties (astronomically rare) break the same way whatever the input order.
    this.#names = Object.freeze(names.sort());
    this.#hashes = Uint32Array.from(this.#names, (name) => murmur3(name, 0x9747b28c));
  }

  /** The shard names, sorted. */
  get shards(): readonly string[] {
    return this.#names;
  }

  /** Number of shards. */
  get size(): number {
    return this.#names.length;
  }

  /** The shard that owns `key`, or `undefined` for an empty ring. */
  shardFor(key: string): string | undefined {
    const index = this.indexFor(key);
    return index < 0 ? undefined : this.#names[index];
  }

  /** Index into {@link HashRing.shards} of the owner of `key`; -1 for an empty ring. */
  indexFor(key: string): number {
    const hashes = this.#hashes;
    if (hashes.length <= 1) return hashes.length - 1;
    const keyHash = murmur3(key);
    let best = 0;
    let bestScore = -1;
    for (let i = 0; i < hashes.length; i++) {
      const s = score(keyHash, hashes[i]!);
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    }
    return best;
  }

  /** All shard names in order of preference for `key` (the owner first). */
  shardsFor(key: string): string[] {
    const keyHash = murmur3(key);
    return this.#names
      .map((name, i) => ({ name, s: score(keyHash, this.#hashes[i]!) }))
      .sort((a, b) => b.s - a.s)
      .map((entry) => entry.name);
  }

  /** A new ring over `shards` (this one is immutable). */
  withShards(shards: Iterable<string>): HashRing {
    return new HashRing(shards);
  }
}
