import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { isBlurhashValid } from "blurhash";
import {
  createThumbnailer,
  DEFAULT_THUMBNAIL_SIZES,
  type Thumbnailer,
} from "../../src/thumbnail/index.js";
import { apng, near, pixel, split } from "./helpers.js";

// A 1000×700 source; expected sizes computed by hand from the spec rules.
const W = 1000;
const H = 700;
const EXPECTED: Record<string, [number, number]> = {
  "32x32:crop": [32, 32],
  "96x96:crop": [96, 96],
  "320x240:crop": [320, 240],
  "640x480:crop": [640, 480],
  "800x600:crop": [800, 600],
  "32x32:scale": [32, 22],
  "96x96:scale": [96, 67],
  "320x240:scale": [320, 224],
  "640x480:scale": [640, 448],
  "800x600:scale": [800, 560],
};

const FORMAT_OF: Record<string, string> = {
  "image/jpeg": "jpeg",
  "image/png": "png",
  "image/webp": "webp",
};

async function assertDecodable(
  data: Buffer,
  contentType: string,
  width: number,
  height: number,
): Promise<void> {
  const meta = await sharp(data).metadata();
  assert.equal(
    meta.format,
    FORMAT_OF[contentType],
    `declared ${contentType}, decoded as ${meta.format}`,
  );
  assert.equal(meta.width, width);
  assert.equal(meta.height, height);
  // Decodes fully, not just the header.
  const stats = await sharp(data).stats();
  assert.ok(stats.channels.length >= 3);
}

describe("every allowlisted format × both methods × all default sizes", () => {
  const sources: Record<string, { data: Buffer; alpha: boolean }> = {};
  let thumbnailer: Thumbnailer;

  before(async () => {
    const opaque = await split(W, H, 300, [220, 30, 30], [30, 30, 220]);
    const withAlpha = await split(W, H, 300, [220, 30, 30], [30, 30, 220], true);
    sources["image/jpeg"] = { data: await opaque.clone().jpeg().toBuffer(), alpha: false };
    sources["image/png"] = { data: await withAlpha.clone().png().toBuffer(), alpha: true };
    sources["image/webp"] = { data: await opaque.clone().webp().toBuffer(), alpha: false };
    sources["image/gif"] = { data: await opaque.clone().gif().toBuffer(), alpha: true };
    sources["image/avif"] = {
      data: await opaque.clone().avif({ effort: 0 }).toBuffer(),
      alpha: false,
    };
    const second = await (await split(W, H, 700, [30, 220, 30], [30, 30, 220])).png().toBuffer();
    const first = await opaque.clone().png().toBuffer();
    sources["image/apng"] = { data: apng(first, second, W, H), alpha: false };
    thumbnailer = createThumbnailer({ placeholder: "blurhash" });
  });

  for (const mime of [
    "image/jpeg",
    "image/png",
    "image/apng",
    "image/gif",
    "image/webp",
    "image/avif",
  ]) {
    it(`${mime}: probe sniffs the type`, async () => {
      const p = await thumbnailer.probe(sources[mime]!.data);
      assert.equal(p.mime, mime);
      assert.equal(p.width, W);
      assert.equal(p.height, H);
      // The APNG fixture has two frames; libvips thumbnails its default image as a still.
      assert.equal(p.frames, mime === "image/apng" ? 2 : 1);
    });

    it(`${mime}: generate, crop and scale, every default size`, async () => {
      const { data, alpha } = sources[mime]!;
      for (const size of DEFAULT_THUMBNAIL_SIZES) {
        for (const method of ["crop", "scale"] as const) {
          const r = await thumbnailer.generate(data, {
            width: size.width,
            height: size.height,
            method,
          });
          const [w, h] = EXPECTED[`${size.width}x${size.height}:${method}`]!;
          assert.equal(r.width, w, `${method} ${size.width}x${size.height} width`);
          assert.equal(r.height, h, `${method} ${size.width}x${size.height} height`);
          assert.equal(r.method, method);
          assert.equal(r.requestedWidth, size.width);
          assert.equal(r.requestedHeight, size.height);
          assert.equal(r.animated, false);
          assert.equal(r.contentType, alpha ? "image/png" : "image/jpeg");
          await assertDecodable(r.data, r.contentType, w, h);
        }
      }
    });

    it(`${mime}: generateAll gives every configured size from one call`, async () => {
      const { data, alpha } = sources[mime]!;
      const all = await thumbnailer.generateAll(data);
      assert.equal(all.length, DEFAULT_THUMBNAIL_SIZES.length);
      for (const [i, size] of DEFAULT_THUMBNAIL_SIZES.entries()) {
        const r = all[i]!;
        const [w, h] = EXPECTED[`${size.width}x${size.height}:${size.method}`]!;
        assert.deepEqual([r.width, r.height, r.method], [w, h, size.method]);
        assert.equal(r.contentType, alpha ? "image/png" : "image/jpeg");
        await assertDecodable(r.data, r.contentType, w, h);
      }
      // The colours survive: centre-cropped 96×96 of a red | blue split at x=300 of 1000 is blue on the right.
      const crop96 = all[1]!;
      assert.ok(near(await pixel(crop96.data, 90, 48), [30, 30, 220]), "right of the crop is blue");
      const scale800 = all[4]!;
      assert.ok(
        near(await pixel(scale800.data, 10, 280), [220, 30, 30]),
        "left of the scale is red",
      );
      assert.ok(
        near(await pixel(scale800.data, 790, 280), [30, 30, 220]),
        "right of the scale is blue",
      );
      // Blurhash on the smallest thumbnail only.
      const withHash = all.filter((r) => r.blurhash !== undefined);
      assert.equal(withHash.length, 1);
      assert.equal(withHash[0], all[0]);
      assert.ok(isBlurhashValid(withHash[0]!.blurhash!).result);
    });
  }

  it("generate and generateAll agree on dimensions for every size", async () => {
    const data = sources["image/jpeg"]!.data;
    const all = await thumbnailer.generateAll(data);
    for (const [i, size] of DEFAULT_THUMBNAIL_SIZES.entries()) {
      const one = await thumbnailer.generate(data, size);
      assert.deepEqual([one.width, one.height], [all[i]!.width, all[i]!.height]);
    }
  });

  it("1×1 PNG cropped to 32×32 is not upscaled", async () => {
    const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: "#0f0" } })
      .png()
      .toBuffer();
    const r = await thumbnailer.generate(tiny, { width: 32, height: 32, method: "crop" });
    assert.equal(r.width, 1);
    assert.equal(r.height, 1);
    const meta = await sharp(r.data).metadata();
    assert.deepEqual([meta.width, meta.height], [1, 1]);
    const all = await thumbnailer.generateAll(tiny);
    for (const t of all) assert.deepEqual([t.width, t.height], [1, 1]);
  });

  it("a small source cropped to a larger box keeps the largest centred crop of that ratio", async () => {
    const small = await (await split(200, 80, 100, [255, 0, 0], [0, 0, 255])).jpeg().toBuffer();
    const r = await thumbnailer.generate(small, { width: 320, height: 240, method: "crop" });
    assert.deepEqual([r.width, r.height], [107, 80]);
  });

  it("generateAll computes a blurhash only when asked", async () => {
    const data = sources["image/jpeg"]!.data;
    const plain = createThumbnailer();
    assert.ok((await plain.generateAll(data)).every((r) => r.blurhash === undefined));
    const asked = await plain.generateAll(data, { blurhash: true });
    assert.ok(isBlurhashValid(asked[0]!.blurhash!).result);
    const declined = await thumbnailer.generateAll(data, { blurhash: false });
    assert.ok(declined.every((r) => r.blurhash === undefined));
  });

  it("placeholder() gives a blurhash of the whole image", async () => {
    const p = await thumbnailer.placeholder(sources["image/jpeg"]!.data);
    assert.ok(isBlurhashValid(p.blurhash).result);
    assert.deepEqual([p.width, p.height], [W, H]);
  });

  it("a CMYK JPEG is converted to sRGB", async () => {
    const cmyk = await sharp({
      create: { width: 400, height: 300, channels: 3, background: { r: 200, g: 40, b: 40 } },
    })
      .toColourspace("cmyk")
      .jpeg()
      .toBuffer();
    assert.equal((await sharp(cmyk).metadata()).space, "cmyk");
    const r = await thumbnailer.generate(cmyk, { width: 96, height: 96, method: "crop" });
    const meta = await sharp(r.data).metadata();
    assert.equal(meta.space, "srgb");
    assert.equal(meta.channels, 3);
    assert.ok(near(await pixel(r.data, 48, 48), [200, 40, 40], 50), "colour preserved");
  });

  it("a 16-bit PNG with alpha gives an 8-bit PNG", async () => {
    const deep = await sharp({
      create: {
        width: 300,
        height: 200,
        channels: 4,
        background: { r: 10, g: 200, b: 10, alpha: 0.5 },
      },
    })
      .toColourspace("rgb16")
      .png()
      .toBuffer();
    assert.equal((await sharp(deep).metadata()).depth, "ushort");
    for (const r of [
      await thumbnailer.generate(deep, { width: 96, height: 96, method: "crop" }),
      ...(await thumbnailer.generateAll(deep)),
    ]) {
      assert.equal(r.contentType, "image/png");
      const meta = await sharp(r.data).metadata();
      assert.equal(meta.depth, "uchar");
      assert.equal(meta.hasAlpha, true);
    }
  });
});
