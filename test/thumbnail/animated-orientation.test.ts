// Animated sources with an EXIF orientation stay animated, every frame turned like a still.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { createThumbnailer, type Thumbnailer } from "../../src/thumbnail/index.js";
import { animationFrames } from "./helpers.js";

const FRAMES = 4;

/** The RGB of the pixel at (x, y) of frame `frame` of an (animated) image. */
async function at(image: Buffer, frame: number, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image, { pages: -1 })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pageHeight = info.pageHeight ?? info.height;
  const o = ((frame * pageHeight + y) * info.width + x) * info.channels;
  return [data[o]!, data[o + 1]!, data[o + 2]!];
}

describe("animated sources with an EXIF orientation", () => {
  let thumbnailer: Thumbnailer;
  before(() => {
    thumbnailer = createThumbnailer();
  });

  for (const orientation of [3, 5, 6, 7, 8]) {
    it(`orientation ${orientation}: animated, each frame turned as the still would be`, async () => {
      // 80×40 stored, with a bar that grows frame by frame, so a wrong turn shows.
      const webp = await animationFrames(80, 40, FRAMES)
        .webp({ lossless: true, loop: 0, delay: Array(FRAMES).fill(100) })
        .withMetadata({ orientation })
        .toBuffer();
      assert.equal((await sharp(webp).metadata()).orientation, orientation);
      const request = { width: 200, height: 200, method: "scale" as const };
      const moving = await thumbnailer.generate(webp, { ...request, animated: true });
      const still = await thumbnailer.generate(webp, { ...request, animated: false });
      assert.equal(moving.animated, true);
      assert.equal((await sharp(moving.data).metadata()).pages, FRAMES);
      const quarter = orientation >= 5;
      assert.deepEqual([moving.width, moving.height], quarter ? [40, 80] : [80, 40]);
      assert.deepEqual([still.width, still.height], [moving.width, moving.height]);
      // The still is the first frame through libvips' own autorotation: the reference.
      for (const [x, y] of [
        [2, 2],
        [moving.width - 3, 2],
        [2, moving.height - 3],
        [moving.width - 3, moving.height - 3],
      ] as const) {
        const a = await at(moving.data, 0, x, y);
        const b = await at(still.data, 0, x, y);
        for (let c = 0; c < 3; c++) {
          assert.ok(Math.abs(a[c]! - b[c]!) < 48, `(${x},${y}) ${a.join()} vs ${b.join()}`);
        }
      }
    });
  }
});
