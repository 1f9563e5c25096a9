import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { MediaError } from "../../src/errors.js";
import {
  createThumbnailer,
  THUMBNAIL_CHANNEL,
  type Thumbnailer,
} from "../../src/thumbnail/index.js";
import { collectEvents, manyFrameGif, near, photo, pixel, pngBomb, split } from "./helpers.js";

function isMediaError(errcode: string, status: number) {
  return (e: unknown): boolean => {
    assert.ok(MediaError.is(e), `expected a MediaError, got ${String(e)}`);
    assert.equal(e.errcode, errcode, e.message);
    assert.equal(e.status, status, e.message);
    return true;
  };
}

describe("hostile input", () => {
  let thumbnailer: Thumbnailer;
  before(() => {
    thumbnailer = createThumbnailer();
  });

  it("a ~1 KB PNG claiming 65535×65535 is refused from its header, memory flat", async () => {
    const bomb = pngBomb();
    assert.ok(bomb.length < 2048, `fixture is ${bomb.length} bytes`);
    globalThis.gc?.();
    const before = process.memoryUsage.rss();
    for (const call of [
      () => thumbnailer.generate(bomb, { width: 96, height: 96, method: "crop" }),
      () => thumbnailer.generateAll(bomb),
      () => thumbnailer.probe(bomb),
      () => thumbnailer.placeholder(bomb),
    ]) {
      const { events, error } = await collectEvents(THUMBNAIL_CHANNEL, call);
      assert.ok(isMediaError("M_TOO_LARGE", 413)(error));
      assert.match((error as Error).message, /65535×65535.*maxPixels/);
      // Refused at the header read: no pixel decoder ran.
      assert.equal(events.at(-1)?.stage, "header");
    }
    // Decoding would have needed 12.9 GB; allow generous noise for the allocator.
    const grownMb = (process.memoryUsage.rss() - before) / 1e6;
    assert.ok(grownMb < 100, `RSS grew by ${grownMb.toFixed(1)} MB`);
  });

  it("maxPixels applies per frame from the header", async () => {
    const small = createThumbnailer({ maxPixels: 10_000 });
    const img = await photo(200, 100).jpeg().toBuffer();
    await assert.rejects(
      small.generate(img, { width: 32, height: 32, method: "crop" }),
      isMediaError("M_TOO_LARGE", 413),
    );
  });

  it("maxSourceBytes refuses big inputs before sniffing", async () => {
    const small = createThumbnailer({ maxSourceBytes: 1000 });
    const img = await photo(200, 200).jpeg().toBuffer();
    assert.ok(img.length > 1000);
    const { events, error } = await collectEvents(THUMBNAIL_CHANNEL, () => small.generateAll(img));
    assert.ok(isMediaError("M_TOO_LARGE", 413)(error));
    assert.equal(events.at(-1)?.stage, "input");
  });

  it("a 5,000-frame GIF is capped within limits: stills decode one frame, animations at most maxFrames", async () => {
    const gif = await manyFrameGif(200, 200, 5000);
    const p = await thumbnailer.probe(gif);
    assert.equal(p.frames, 5000);
    globalThis.gc?.();
    const before = process.memoryUsage.rss();
    const still = await thumbnailer.generate(gif, { width: 96, height: 96, method: "crop" });
    assert.equal(still.animated, false);
    assert.equal((await sharp(still.data).metadata()).pages, undefined);

    const capped = createThumbnailer({ maxFrames: 40 });
    const anim = await capped.generate(gif, {
      width: 96,
      height: 96,
      method: "crop",
      animated: true,
    });
    assert.equal(anim.contentType, "image/webp");
    assert.equal(anim.animated, true);
    const meta = await sharp(anim.data).metadata();
    assert.equal(meta.pages, 40);
    assert.equal(meta.delay?.length, 40);

    // The default caps (500 frames, 100 MP decoded) keep the full default pipeline bounded.
    const all = await thumbnailer.generateAll(gif, { animated: true });
    for (const t of all) {
      const m = await sharp(t.data).metadata();
      assert.ok((m.pages ?? 1) <= 500, `${m.pages} frames`);
      assert.ok((m.pages ?? 1) > 1);
    }
    const grownMb = (process.memoryUsage.rss() - before) / 1e6;
    assert.ok(grownMb < 1000, `RSS grew by ${grownMb.toFixed(1)} MB`);
  });

  it("maxAnimationPixels caps the frame count of big animations", async () => {
    const gif = await manyFrameGif(200, 200, 50);
    const t = createThumbnailer({ maxAnimationPixels: 200 * 200 * 7 });
    const r = await t.generate(gif, { width: 32, height: 32, method: "scale", animated: true });
    assert.equal((await sharp(r.data).metadata()).pages, 7);
  });

  it("a truncated JPEG is a clean 400 error", async () => {
    const full = await photo(800, 600).jpeg().toBuffer();
    for (const truncated of [
      full.subarray(0, Math.floor(full.length / 2)),
      full.subarray(0, 200),
    ]) {
      for (const call of [
        () => thumbnailer.generate(truncated, { width: 96, height: 96, method: "crop" }),
        () => thumbnailer.generateAll(truncated),
      ]) {
        await assert.rejects(call(), (e: unknown) => {
          assert.ok(MediaError.is(e));
          assert.equal(e.status, 400);
          assert.ok(e.errcode === "M_UNKNOWN" || e.errcode === "M_UNSUPPORTED", e.errcode);
          // The client-facing message never carries libvips internals.
          assert.doesNotMatch(e.message, /vips/i);
          return true;
        });
      }
    }
    assert.equal(thumbnailer.stats().active, 0);
  });

  it("truncated PNG, WebP, GIF and AVIF are clean 400 errors too", async () => {
    const base = () => photo(600, 400);
    const sources = {
      png: await base().png().toBuffer(),
      webp: await base().webp().toBuffer(),
      gif: await base().gif().toBuffer(),
      avif: await base().avif({ effort: 0 }).toBuffer(),
    };
    for (const [name, full] of Object.entries(sources)) {
      const cut = full.subarray(0, Math.floor(full.length / 2));
      for (const call of [
        () => thumbnailer.generate(cut, { width: 96, height: 96, method: "crop" }),
        () => thumbnailer.generateAll(cut),
      ]) {
        await assert.rejects(call(), (e: unknown) => {
          assert.ok(isMediaError("M_UNKNOWN", 400)(e), name);
          assert.doesNotMatch((e as Error).message, /vips/i);
          return true;
        });
      }
    }
  });

  it("PDF, SVG, HTML and XML bytes (whatever they are labelled) are refused before any loader runs", async () => {
    const hostile: Record<string, Buffer> = {
      pdf: Buffer.from(
        "%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
      ),
      svg: Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="file:///etc/passwd"/></svg>',
      ),
      "svg with xml prolog": Buffer.from(
        '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"/>',
      ),
      html: Buffer.from("<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"),
      empty: Buffer.alloc(0),
      tiff: await photo(50, 50).tiff().toBuffer(),
    };
    for (const [name, bytes] of Object.entries(hostile)) {
      for (const call of [
        () => thumbnailer.generate(bytes, { width: 96, height: 96, method: "crop" }),
        () => thumbnailer.generateAll(bytes),
        () => thumbnailer.probe(bytes),
      ]) {
        const { events, error } = await collectEvents(THUMBNAIL_CHANNEL, call);
        assert.ok(isMediaError("M_UNSUPPORTED", 400)(error), name);
        assert.equal(events.at(-1)?.stage, "sniff", `${name} refused at ${events.at(-1)?.stage}`);
      }
    }
  });

  it("with blockLoaders, libvips itself refuses non-allowlisted loaders (second wall)", async () => {
    createThumbnailer({ blockLoaders: true });
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    );
    const tiff = await photo(20, 20).tiff().toBuffer();
    await assert.rejects(sharp(svg).metadata(), /unsupported image format/);
    await assert.rejects(sharp(tiff).metadata(), /unsupported image format/);
    // Allowlisted loaders still work.
    const jpeg = await photo(20, 20).jpeg().toBuffer();
    assert.equal((await sharp(jpeg).metadata()).format, "jpeg");
  });

  it("EXIF orientation 6 JPEG cropped to 96×96 has the right orientation and dimensions", async () => {
    // Stored landscape 300×200 with the left third blue; orientation 6 displays it rotated
    // 90° clockwise as 200×300 portrait with the blue band at the top.
    const stored = await split(300, 200, 100, [0, 0, 255], [255, 0, 0]);
    const jpeg = await stored.jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    assert.equal((await sharp(jpeg).metadata()).orientation, 6);
    const p = await thumbnailer.probe(jpeg);
    assert.deepEqual([p.width, p.height, p.orientation], [200, 300, 6]);
    const checks = async (data: Buffer): Promise<void> => {
      const meta = await sharp(data).metadata();
      assert.deepEqual([meta.width, meta.height], [96, 96]);
      assert.equal(meta.orientation, undefined, "orientation applied, tag removed");
      // Display rows 50..250 of 300 are kept: the top eighth of the crop is blue, the rest red.
      assert.ok(
        near(await pixel(data, 48, 4), [0, 0, 255]),
        `top is blue: ${(await pixel(data, 48, 4)).join(",")}`,
      );
      assert.ok(near(await pixel(data, 48, 90), [255, 0, 0]), "bottom is red");
      assert.ok(near(await pixel(data, 2, 60), [255, 0, 0]), "left is red");
    };
    await checks(
      (await thumbnailer.generate(jpeg, { width: 96, height: 96, method: "crop" })).data,
    );
    const all = await thumbnailer.generateAll(jpeg);
    await checks(all[1]!.data);
    // Scale keeps the portrait shape.
    assert.deepEqual([all[2]!.width, all[2]!.height], [160, 240]);
  });

  // AVIF carries orientation in irot/imir boxes, which libheif applies while decoding.
  for (const format of ["png", "webp"] as const) {
    it(`EXIF orientation is applied before crop for ${format} too`, async () => {
      const stored = await split(300, 200, 100, [0, 0, 255], [255, 0, 0]);
      const encoded = await stored[format]().withMetadata({ orientation: 6 }).toBuffer();
      const p = await thumbnailer.probe(encoded);
      assert.equal(p.orientation, 6, `${format} orientation read`);
      const r = await thumbnailer.generate(encoded, { width: 96, height: 96, method: "crop" });
      assert.deepEqual([r.width, r.height], [96, 96]);
      assert.ok(near(await pixel(r.data, 48, 4), [0, 0, 255]), "top is blue");
      assert.ok(near(await pixel(r.data, 48, 90), [255, 0, 0]), "bottom is red");
    });
  }

  it("EXIF GPS in the source is absent from every thumbnail", async () => {
    const gps = {
      IFD0: { Make: "LeakyCam", Copyright: "secret-owner" },
      IFD3: {
        GPSLatitudeRef: "N",
        GPSLatitude: "51/1 30/1 4471/100",
        GPSLongitudeRef: "W",
        GPSLongitude: "0/1 7/1 3981/100",
      },
    };
    const base = await split(640, 480, 200, [10, 120, 10], [200, 200, 10]);
    const sources = {
      jpeg: await base.clone().jpeg().withExifMerge(gps).toBuffer(),
      png: await base.clone().png().withExifMerge(gps).toBuffer(),
      webp: await base.clone().webp().withExifMerge(gps).toBuffer(),
    };
    for (const [name, src] of Object.entries(sources)) {
      const exif = (await sharp(src).metadata()).exif;
      assert.ok(
        exif && exif.includes(Buffer.from([0x25, 0x88])),
        `${name} source has a GPS IFD pointer`,
      );
      assert.ok(exif.includes(Buffer.from("LeakyCam")));
      const outputs = [
        ...(await thumbnailer.generateAll(src)),
        await thumbnailer.generate(src, { width: 96, height: 96, method: "crop" }),
        await thumbnailer.generate(src, { width: 123, height: 77, method: "scale" }),
      ];
      for (const t of outputs) {
        const meta = await sharp(t.data).metadata();
        assert.equal(meta.exif, undefined, `${name} → ${t.width}x${t.height} has EXIF`);
        assert.equal(meta.xmp, undefined);
        assert.equal(meta.iptc, undefined);
        assert.equal(meta.hasProfile, false);
        assert.ok(!t.data.includes(Buffer.from("LeakyCam")));
        assert.ok(!t.data.includes(Buffer.from("Exif\0\0")));
      }
    }
  });
});
