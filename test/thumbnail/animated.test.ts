import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import {
  createThumbnailer,
  DEFAULT_THUMBNAIL_SIZES,
  type Thumbnailer,
} from "../../src/thumbnail/index.js";
import { animatedGif, animatedWebp, near, pixel } from "./helpers.js";

const FRAMES = 8;

describe("animated sources", () => {
  let thumbnailer: Thumbnailer;
  const sources: Record<string, Buffer> = {};
  before(async () => {
    thumbnailer = createThumbnailer();
    sources.gif = await animatedGif(400, 200, FRAMES);
    sources.webp = await animatedWebp(400, 200, FRAMES);
  });

  for (const kind of ["gif", "webp"]) {
    it(`${kind}: probe reports the frames`, async () => {
      const p = await thumbnailer.probe(sources[kind]!);
      assert.equal(p.frames, FRAMES);
      assert.equal(p.animated, true);
      assert.deepEqual([p.width, p.height], [400, 200]);
    });

    it(`${kind} with animated=true → animated WebP with the source's frame count`, async () => {
      for (const method of ["crop", "scale"] as const) {
        const r = await thumbnailer.generate(sources[kind]!, {
          width: 96,
          height: 96,
          method,
          animated: true,
        });
        assert.equal(r.contentType, "image/webp");
        assert.equal(r.animated, true);
        const meta = await sharp(r.data, { animated: true }).metadata();
        assert.equal(meta.format, "webp");
        assert.equal(meta.pages, FRAMES);
        assert.deepEqual(meta.delay, Array(FRAMES).fill(80));
        assert.equal(meta.loop, 0);
        const expected = method === "crop" ? [96, 96] : [96, 48];
        assert.deepEqual([meta.width, meta.pageHeight ?? meta.height], expected);
        assert.deepEqual([r.width, r.height], expected);
        // Frames really differ: the bar grows, so the left edge of the first frame is lit
        // and its right edge is not, while the last frame is lit all the way across.
        const frames = await sharp(r.data, { animated: true })
          .removeAlpha()
          .raw()
          .toBuffer({ resolveWithObject: true });
        const fh = expected[1]!;
        const at = (frame: number, x: number): number[] => {
          const o = ((frame * fh + Math.floor(fh / 2)) * frames.info.width + x) * 3;
          return [frames.data[o]!, frames.data[o + 1]!, frames.data[o + 2]!];
        };
        assert.ok(at(0, frames.info.width - 2)[0]! < 100, "first frame dark on the right");
        assert.ok(at(FRAMES - 1, frames.info.width - 2)[0]! > 150, "last frame lit on the right");
      }
    });

    it(`${kind} with animated=false or absent → a still`, async () => {
      for (const animated of [false, undefined]) {
        const r = await thumbnailer.generate(sources[kind]!, {
          width: 96,
          height: 96,
          method: "crop",
          animated,
        });
        assert.equal(r.animated, false);
        assert.notEqual(r.contentType, "image/webp");
        const meta = await sharp(r.data).metadata();
        assert.equal(meta.pages, undefined);
        assert.deepEqual([meta.width, meta.height], [96, 96]);
        // The still is the first frame: its right side is dark.
        assert.ok(
          near(await pixel(r.data, 90, 48), [10, 0, 200], 60),
          `first frame: ${(await pixel(r.data, 90, 48)).join(",")}`,
        );
      }
    });

    it(`${kind}: generateAll with animated=true gives animated WebP at every size`, async () => {
      const all = await thumbnailer.generateAll(sources[kind]!, { animated: true });
      assert.equal(all.length, DEFAULT_THUMBNAIL_SIZES.length);
      for (const r of all) {
        assert.equal(r.contentType, "image/webp");
        assert.equal(r.animated, true);
        const meta = await sharp(r.data, { animated: true }).metadata();
        assert.equal(meta.pages, FRAMES);
        assert.deepEqual([meta.width, meta.pageHeight ?? meta.height], [r.width, r.height]);
      }
      assert.deepEqual(
        all.map((r) => [r.width, r.height]),
        [
          [32, 32],
          [96, 96],
          [320, 160],
          [400, 200],
          [400, 200],
        ],
      );
      assert.ok(all[0]!.blurhash);
      const stills = await thumbnailer.generateAll(sources[kind]!);
      for (const r of stills) {
        assert.equal(r.animated, false);
        assert.equal((await sharp(r.data).metadata()).pages, undefined);
      }
    });
  }

  it("a thumbnailer created with animated=false never animates", async () => {
    const noAnim = createThumbnailer({ animated: false });
    const r = await noAnim.generate(sources.gif!, {
      width: 96,
      height: 96,
      method: "crop",
      animated: true,
    });
    assert.equal(r.animated, false);
    assert.equal((await sharp(r.data).metadata()).pages, undefined);
  });

  it("maxFrames truncates animations", async () => {
    const capped = createThumbnailer({ maxFrames: 3 });
    const r = await capped.generate(sources.webp!, {
      width: 96,
      height: 96,
      method: "crop",
      animated: true,
    });
    const meta = await sharp(r.data).metadata();
    assert.equal(meta.pages, 3);
    assert.equal(meta.delay?.length, 3);
  });
});
