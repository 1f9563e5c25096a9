import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import {
  createThumbnailer,
  DEFAULT_THUMBNAIL_SIZES,
  type Thumbnailer,
} from "../../src/thumbnail/index.js";
import { animatedGif, animatedWebp, apngSequence, near, pixel } from "./helpers.js";
import { MediaError } from "../../src/errors.js";

const FRAMES = 8;

describe("animated sources", () => {
  let thumbnailer: Thumbnailer;
  const sources: Record<string, Buffer> = {};
  before(async () => {
    thumbnailer = createThumbnailer({ placeholder: "blurhash" });
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

describe("animated PNG (APNG)", () => {
  const solid = (w: number, h: number, c: { r: number; g: number; b: number; alpha?: number }) =>
    sharp({ create: { width: w, height: h, channels: 4, background: { alpha: 1, ...c } } })
      .png()
      .toBuffer();

  it("animated=true → animated WebP composed with the APNG blend and dispose rules", async () => {
    // Frame 0: red canvas. Frame 1: a green 100×100 square at (50, 50), blended over.
    // Frame 2: a 40×40 yellow square at (300, 20), blended over, then disposed to background
    // (its region becomes transparent). Frame 3: blue over the left half only, replacing.
    const W = 400;
    const H = 200;
    const png = apngSequence(
      [
        { png: await solid(W, H, { r: 255, g: 0, b: 0 }), width: W, height: H, delayMs: 100 },
        {
          png: await solid(100, 100, { r: 0, g: 255, b: 0 }),
          width: 100,
          height: 100,
          x: 50,
          y: 50,
          blend: 1,
          delayMs: 200,
        },
        {
          png: await solid(40, 40, { r: 255, g: 255, b: 0 }),
          width: 40,
          height: 40,
          x: 300,
          y: 20,
          blend: 1,
          dispose: 1,
          delayMs: 300,
        },
        { png: await solid(200, H, { r: 0, g: 0, b: 255 }), width: 200, height: H, delayMs: 400 },
      ],
      W,
      H,
    );
    const t = createThumbnailer();
    const p = await t.probe(png);
    assert.equal(p.mime, "image/apng");
    assert.equal(p.frames, 4);
    assert.equal(p.animated, true);

    const r = await t.generate(png, { width: 400, height: 200, method: "scale", animated: true });
    assert.equal(r.contentType, "image/webp");
    assert.equal(r.animated, true);
    const meta = await sharp(r.data, { animated: true }).metadata();
    assert.equal(meta.pages, 4);
    assert.deepEqual(meta.delay, [100, 200, 300, 400]);
    assert.deepEqual([meta.width, meta.pageHeight], [400, 200]);
    const { data, info } = await sharp(r.data, { animated: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const at = (frame: number, x: number, y: number) => {
      const o = ((frame * 200 + y) * info.width + x) * info.channels;
      return [data[o]!, data[o + 1]!, data[o + 2]!, data[o + 3]!];
    };
    const close = (got: number[], want: number[]) =>
      got.every((v, i) => Math.abs(v - want[i]!) <= 40);
    assert.ok(
      close(at(0, 100, 100), [255, 0, 0, 255]),
      `frame 0 red: ${at(0, 100, 100).join(",")}`,
    );
    assert.ok(
      close(at(1, 100, 100), [0, 255, 0, 255]),
      `frame 1 green square: ${at(1, 100, 100).join(",")}`,
    );
    assert.ok(close(at(1, 300, 100), [255, 0, 0, 255]), "frame 1 keeps red around the square");
    assert.ok(close(at(2, 100, 100), [0, 255, 0, 255]), "frame 2 still shows frame 1's square");
    assert.ok(
      close(at(2, 320, 40), [255, 255, 0, 255]),
      `frame 2 yellow: ${at(2, 320, 40).join(",")}`,
    );
    // Frame 3 is blue on the left; on the right, red except where frame 2 was disposed.
    assert.ok(
      close(at(3, 100, 100), [0, 0, 255, 255]),
      `frame 3 blue: ${at(3, 100, 100).join(",")}`,
    );
    assert.ok(
      close(at(3, 300, 150), [255, 0, 0, 255]),
      `frame 3 right: ${at(3, 300, 150).join(",")}`,
    );
    assert.equal(at(3, 320, 40)[3], 0, "frame 2's region was disposed to transparent");

    // generateAll derives every size from one composition.
    const all = await t.generateAll(png, { animated: true });
    for (const th of all) {
      assert.equal(th.contentType, "image/webp");
      assert.equal((await sharp(th.data).metadata()).pages, 4);
    }
    // Without animated: the default image, a still.
    const still = await t.generate(png, { width: 96, height: 96, method: "crop" });
    assert.equal(still.animated, false);
    assert.equal((await sharp(still.data).metadata()).pages, undefined);
    // maxFrames caps APNG too.
    const capped = await createThumbnailer({ maxFrames: 2 }).generate(png, {
      width: 96,
      height: 96,
      method: "crop",
      animated: true,
    });
    assert.equal((await sharp(capped.data).metadata()).pages, 2);
  });

  it("an APNG frame outside its canvas is a clean 400", async () => {
    const png = apngSequence(
      [
        { png: await solid(100, 100, { r: 255, g: 0, b: 0 }), width: 100, height: 100 },
        { png: await solid(100, 100, { r: 0, g: 255, b: 0 }), width: 100, height: 100, x: 50 },
      ],
      100,
      100,
    );
    await assert.rejects(
      createThumbnailer().generate(png, { width: 32, height: 32, method: "crop", animated: true }),
      (e: unknown) => MediaError.is(e) && e.status === 400 && e.errcode === "M_UNKNOWN",
    );
  });
});
