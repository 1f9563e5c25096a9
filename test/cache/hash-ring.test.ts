import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HashRing, murmur3 } from "../../src/cache/index.js";

// Deterministic pseudo-random source so a failure is reproducible (mulberry32).
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keys = Array.from(
  { length: 10_000 },
  (_, i) => `remote:matrix.org/${(i * 2654435761).toString(36)}${i}`,
);

function randomShardNames(random: () => number, n: number): string[] {
  const names = new Set<string>();
  while (names.size < n) names.add(`redis://127.0.0.1:${1024 + Math.floor(random() * 64000)}`);
  return [...names];
}

describe("HashRing", () => {
  it("3 shards, 10k keys: every shard within ±15% of an even share, for 200 random name sets", () => {
    const random = prng(42);
    let worst = 0;
    for (let trial = 0; trial < 200; trial++) {
      const ring = new HashRing(randomShardNames(random, 3));
      const counts = new Map<string, number>();
      for (const key of keys) {
        const shard = ring.shardFor(key)!;
        counts.set(shard, (counts.get(shard) ?? 0) + 1);
      }
      assert.equal(counts.size, 3);
      for (const [shard, count] of counts) {
        const deviation = Math.abs(count / (keys.length / 3) - 1);
        worst = Math.max(worst, deviation);
        assert.ok(
          deviation <= 0.15,
          `${shard} holds ${count} of ${keys.length} keys (trial ${trial})`,
        );
      }
    }
    assert.ok(worst < 0.15);
  });

  it("3 → 4 shards moves 25% ± 5% of keys, all to the new shard", () => {
    const random = prng(7);
    for (let trial = 0; trial < 50; trial++) {
      const names = randomShardNames(random, 4);
      const before = new HashRing(names.slice(0, 3));
      const after = before.withShards(names);
      let moved = 0;
      for (const key of keys) {
        const a = before.shardFor(key);
        const b = after.shardFor(key);
        if (a !== b) {
          moved++;
          assert.equal(b, names[3], "a key only ever moves to the added shard");
        }
      }
      const share = moved / keys.length;
      assert.ok(
        share >= 0.2 && share <= 0.3,
        `moved ${(share * 100).toFixed(1)}% (trial ${trial})`,
      );
    }
  });

  it("removing one of 4 shards moves only that shard's keys", () => {
    const names = ["a", "b", "c", "d"];
    const four = new HashRing(names);
    const three = new HashRing(["a", "b", "d"]);
    let moved = 0;
    for (const key of keys) {
      if (four.shardFor(key) !== three.shardFor(key)) {
        moved++;
        assert.equal(four.shardFor(key), "c");
      }
    }
    assert.ok(moved / keys.length > 0.2 && moved / keys.length < 0.3);
  });

  it("is deterministic and independent of the order of names", () => {
    const a = new HashRing(["x", "y", "z"]);
    const b = new HashRing(["z", "x", "y"]);
    for (const key of keys.slice(0, 1000)) assert.equal(a.shardFor(key), b.shardFor(key));
    assert.deepEqual(a.shards, ["x", "y", "z"]);
  });

  it("shardsFor lists every shard, owner first", () => {
    const ring = new HashRing(["x", "y", "z"]);
    for (const key of keys.slice(0, 200)) {
      const order = ring.shardsFor(key);
      assert.equal(order[0], ring.shardFor(key));
      assert.deepEqual([...order].sort(), ["x", "y", "z"]);
    }
  });

  it("handles 0 and 1 shards and refuses duplicates", () => {
    assert.equal(new HashRing([]).shardFor("k"), undefined);
    assert.equal(new HashRing(["only"]).shardFor("k"), "only");
    assert.throws(() => new HashRing(["a", "a"]), /distinct but "a" appears twice/);
    assert.throws(() => new HashRing([""]), /non-empty strings/);
  });

  it("murmur3 matches the reference for ASCII pairs and is stable", () => {
    assert.equal(murmur3(""), 0);
    assert.equal(murmur3("abc"), murmur3("abc"));
    assert.notEqual(murmur3("abc"), murmur3("abd"));
    assert.notEqual(murmur3("abc", 1), murmur3("abc", 2));
  });
});
