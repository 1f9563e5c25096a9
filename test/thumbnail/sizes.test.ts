import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, MediaError } from "../../src/errors.js";
import {
  createThumbnailer,
  DEFAULT_THUMBNAIL_SIZES,
  outputDimensions,
} from "../../src/thumbnail/index.js";

describe("outputDimensions (spec semantics, never upscale)", () => {
  it("scale fits inside keeping the aspect ratio", () => {
    assert.deepEqual(
      outputDimensions({ width: 4000, height: 3000 }, { width: 320, height: 240, method: "scale" }),
      { width: 320, height: 240 },
    );
    assert.deepEqual(
      outputDimensions({ width: 1000, height: 100 }, { width: 320, height: 240, method: "scale" }),
      { width: 320, height: 32 },
    );
    assert.deepEqual(
      outputDimensions({ width: 100, height: 1000 }, { width: 320, height: 240, method: "scale" }),
      { width: 24, height: 240 },
    );
  });
  it("scale of a source that already fits returns the source size", () => {
    assert.deepEqual(
      outputDimensions({ width: 200, height: 150 }, { width: 800, height: 600, method: "scale" }),
      { width: 200, height: 150 },
    );
  });
  it("crop returns exactly the requested box when the source covers it", () => {
    assert.deepEqual(
      outputDimensions({ width: 4000, height: 3000 }, { width: 96, height: 96, method: "crop" }),
      { width: 96, height: 96 },
    );
  });
  it("crop of a small source is the largest centred crop of the requested ratio, unscaled", () => {
    assert.deepEqual(
      outputDimensions({ width: 1, height: 1 }, { width: 32, height: 32, method: "crop" }),
      { width: 1, height: 1 },
    );
    assert.deepEqual(
      outputDimensions({ width: 50, height: 1000 }, { width: 96, height: 96, method: "crop" }),
      { width: 50, height: 50 },
    );
    assert.deepEqual(
      outputDimensions({ width: 200, height: 80 }, { width: 320, height: 240, method: "crop" }),
      { width: 107, height: 80 },
    );
  });
});

describe("pickSize", () => {
  const t = createThumbnailer({ blockLoaders: false });
  it("picks the smallest size of the same method at least as large as the request", () => {
    assert.deepEqual(t.pickSize({ width: 32, height: 32, method: "crop" }), {
      width: 32,
      height: 32,
      method: "crop",
    });
    assert.deepEqual(t.pickSize({ width: 50, height: 50, method: "crop" }), {
      width: 96,
      height: 96,
      method: "crop",
    });
    assert.deepEqual(t.pickSize({ width: 300, height: 200, method: "scale" }), {
      width: 320,
      height: 240,
      method: "scale",
    });
    assert.deepEqual(t.pickSize({ width: 321, height: 10, method: "scale" }), {
      width: 640,
      height: 480,
      method: "scale",
    });
  });
  it("falls back to the largest size of the method", () => {
    assert.deepEqual(t.pickSize({ width: 500, height: 500, method: "crop" }), {
      width: 96,
      height: 96,
      method: "crop",
    });
    assert.deepEqual(t.pickSize({ width: 5000, height: 5000, method: "scale" }), {
      width: 800,
      height: 600,
      method: "scale",
    });
  });
  it("compares on what a small source really yields", () => {
    // A 200×150 source: 320×240 scale already gives all of it, so 640×480 would be waste.
    assert.deepEqual(
      t.pickSize({ width: 640, height: 480, method: "scale" }, { width: 200, height: 150 }),
      { width: 320, height: 240, method: "scale" },
    );
    // A 50×50 source asked for 64×64 crop: 96×96 crop yields 50×50, 32×32 does not.
    assert.deepEqual(
      t.pickSize({ width: 64, height: 64, method: "crop" }, { width: 50, height: 50 }),
      { width: 96, height: 96, method: "crop" },
    );
  });
  it("falls back to any method when none of the requested one is configured", () => {
    const scaleOnly = createThumbnailer({
      blockLoaders: false,
      sizes: [
        { width: 100, height: 100, method: "scale" },
        { width: 400, height: 400, method: "scale" },
      ],
    });
    assert.deepEqual(scaleOnly.pickSize({ width: 90, height: 90, method: "crop" }), {
      width: 100,
      height: 100,
      method: "scale",
    });
  });
  it("with dynamic, returns the exact request within bounds", () => {
    const dyn = createThumbnailer({ blockLoaders: false, dynamic: true });
    assert.deepEqual(dyn.pickSize({ width: 123, height: 45, method: "crop" }), {
      width: 123,
      height: 45,
      method: "crop",
    });
    // Beyond the largest configured dimensions: the usual selection.
    assert.deepEqual(dyn.pickSize({ width: 2000, height: 2000, method: "scale" }), {
      width: 800,
      height: 600,
      method: "scale",
    });
    const bounded = createThumbnailer({
      blockLoaders: false,
      dynamic: { maxWidth: 1920, maxHeight: 1080 },
    });
    assert.deepEqual(bounded.pickSize({ width: 1900, height: 1000, method: "scale" }), {
      width: 1900,
      height: 1000,
      method: "scale",
    });
  });
  it("refuses malformed requests with 400 M_INVALID_PARAM", () => {
    for (const bad of [
      { width: 0, height: 10, method: "crop" },
      { width: 10.5, height: 10, method: "crop" },
      { width: 10, height: 10, method: "fit" },
      { width: 100_000, height: 10, method: "scale" },
    ]) {
      assert.throws(
        () => t.pickSize(bad as never),
        (e: unknown) => MediaError.is(e) && e.errcode === "M_INVALID_PARAM" && e.status === 400,
      );
    }
  });
});

describe("createThumbnailer options", () => {
  it("has the documented default sizes", () => {
    assert.deepEqual(
      DEFAULT_THUMBNAIL_SIZES.map((s) => `${s.width}x${s.height}:${s.method}`),
      ["32x32:crop", "96x96:crop", "320x240:scale", "640x480:scale", "800x600:scale"],
    );
  });
  it("validates options precisely, naming the option", () => {
    assert.throws(() => createThumbnailer({ maxPixels: -1 }), /maxPixels.*-1/);
    assert.throws(() => createThumbnailer({ concurrency: 1.5 }), /concurrency/);
    assert.throws(() => createThumbnailer({ sizes: [] }), /sizes/);
    assert.throws(
      () => createThumbnailer({ sizes: [{ width: 10, height: 10, method: "fit" as never }] }),
      /sizes\[0\]\.method/,
    );
    assert.throws(
      () => createThumbnailer({ sizes: [{ width: 0, height: 10, method: "crop" }] }),
      /sizes\[0\]\.width/,
    );
    assert.throws(() => createThumbnailer({ failOn: "none" as never }), /failOn/);
    assert.throws(() => createThumbnailer({ jpegQuality: 101 }), /jpegQuality/);
    assert.throws(
      () => createThumbnailer({ dynamic: { maxWidth: 0, maxHeight: 10 } }),
      /dynamic\.maxWidth/,
    );
  });
  it("refuses invalid options with a ConfigError naming the option and the value", () => {
    const cases: Array<[Parameters<typeof createThumbnailer>[0], string, RegExp]> = [
      [{ maxPixels: -1 }, "maxPixels", /options\.maxPixels .*-1/],
      [{ placeholder: "thumbhash" as never }, "placeholder", /"thumbhash"/],
      [{ failOn: "none" as never }, "failOn", /"none"/],
      [{ animated: "yes" as never }, "animated", /"yes"/],
      [{ sizes: [{ width: 10, height: 1.5, method: "crop" }] }, "sizes[0].height", /1\.5/],
      [{ now: 5 as never }, "now", /5/],
    ];
    for (const [options, option, message] of cases) {
      assert.throws(
        () => createThumbnailer(options),
        (e: unknown) => e instanceof ConfigError && e.option === option && message.test(e.message),
        option,
      );
    }
  });
});
