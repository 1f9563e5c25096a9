import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { MediaError } from "../../src/errors.js";
import { createThumbnailer, THUMBNAIL_CHANNEL } from "../../src/thumbnail/index.js";
import type { ThumbnailerLike } from "../../src/repository/types.js";
import { collectEvents, photo } from "./helpers.js";

describe("concurrency queue and deadlines", () => {
  it("a full queue refuses at once with 503 M_LIMIT_EXCEEDED and retry_after_ms; admitted work completes", async () => {
    const t = createThumbnailer({ concurrency: 1, maxQueue: 1 });
    const img = await photo(2000, 1500).jpeg().toBuffer();
    const first = t.generateAll(img);
    const second = t.generateAll(img);
    assert.deepEqual(t.stats(), { active: 1, queued: 1 });
    const { events, error } = await collectEvents(THUMBNAIL_CHANNEL, () =>
      t.generate(img, { width: 32, height: 32, method: "crop" }),
    );
    assert.ok(MediaError.is(error));
    assert.equal(error.errcode, "M_LIMIT_EXCEEDED");
    assert.equal(error.status, 503);
    assert.ok((error.retryAfterMs ?? 0) > 0);
    assert.match(error.message, /maxQueue/);
    assert.equal(events.at(-1)?.stage, "queue");
    assert.equal((await first).length, 5);
    assert.equal((await second).length, 5);
    assert.deepEqual(t.stats(), { active: 0, queued: 0 });
    // Capacity is back.
    assert.equal((await t.generate(img, { width: 32, height: 32, method: "crop" })).width, 32);
  });

  it("jobs run at most `concurrency` at a time, in order", async () => {
    const t = createThumbnailer({ concurrency: 2, maxQueue: 10 });
    const img = await photo(1200, 900).jpeg().toBuffer();
    let peak = 0;
    const jobs = Array.from({ length: 6 }, () => {
      const p = t.generate(img, { width: 96, height: 96, method: "crop" });
      peak = Math.max(peak, t.stats().active);
      return p;
    });
    assert.deepEqual(t.stats(), { active: 2, queued: 4 });
    const results = await Promise.all(jobs);
    assert.equal(peak, 2);
    assert.ok(results.every((r) => r.width === 96));
    assert.deepEqual(t.stats(), { active: 0, queued: 0 });
  });

  it("an image over the deadline is a 504, and its slot is freed once libvips stops", async () => {
    const t = createThumbnailer({ timeoutMs: 1, concurrency: 1 });
    const img = await photo(3000, 2000).png().toBuffer();
    await assert.rejects(t.generateAll(img), (e: unknown) => {
      assert.ok(MediaError.is(e));
      assert.equal(e.status, 504);
      assert.equal(e.errcode, "M_UNKNOWN");
      return true;
    });
    // The slot is held until the sharp work settles (libvips' own timeout is one second).
    for (let i = 0; i < 200 && t.stats().active > 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.stats().active, 0);
  });

  it("publishes successes on the diagnostics channel", async () => {
    let clock = 1000;
    const t = createThumbnailer({ now: () => (clock += 5) });
    const img = await photo(100, 100).jpeg().toBuffer();
    const { events } = await collectEvents(THUMBNAIL_CHANNEL, () => t.generateAll(img));
    assert.deepEqual(events, [
      { event: "generateAll", mime: "image/jpeg", durationMs: 5, count: 5, animated: false },
    ]);
  });
});

describe("package boundary", () => {
  it("fits the repository's ThumbnailerLike contract", async () => {
    const thumbnailer: ThumbnailerLike = createThumbnailer();
    const img = await photo(64, 48).jpeg().toBuffer();
    const r = await thumbnailer.generate(img, {
      width: 32,
      height: 32,
      method: "crop",
      animated: false,
    });
    assert.deepEqual([r.width, r.height, r.contentType], [32, 32, "image/jpeg"]);
    assert.deepEqual(thumbnailer.pickSize?.({ width: 40, height: 40, method: "crop" }), {
      width: 96,
      height: 96,
      method: "crop",
    });
  });

  it("the thumbnail entry never imports ioredis, pg or the AWS SDK", () => {
    const root = path.resolve(import.meta.dirname, "../../src");
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(
        /(?:^|\n)\s*(?:import|export)\s[^"']*?from\s+["']([^"']+)["']/g,
      )) {
        const spec = m[1]!;
        if (/^import\s+type\b/.test(m[0].trim())) continue;
        if (spec.startsWith("."))
          visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts")));
        else bare.add(spec);
      }
    };
    visit(path.join(root, "thumbnail/index.ts"));
    assert.ok(seen.size >= 4);
    for (const spec of bare) {
      assert.ok(
        spec.startsWith("node:") || ["sharp", "file-type/core", "blurhash"].includes(spec),
        `unexpected dependency ${spec}`,
      );
    }
    assert.ok(bare.has("sharp"));
  });
});
