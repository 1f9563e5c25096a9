// The built package, imported the way a user does (through the `exports` map), in a fresh
// process: the public names are there and a thumbnail is made end to end.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runBuiltScript } from "../harness/built.js";

const script = `
import sharp from "sharp";
const thumbnail = await import("matrix-media-kit/thumbnail");
const jpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: "#c33" } }).jpeg().toBuffer();
const t = thumbnail.createThumbnailer({ placeholder: "blurhash" });
const all = await t.generateAll(jpeg);
const plain = await thumbnail.createThumbnailer().generateAll(jpeg);
let refused = null;
try {
  await t.generate(Buffer.from("%PDF-1.7\\n%%EOF\\n"), { width: 32, height: 32, method: "crop" });
} catch (e) {
  refused = { name: e.name, errcode: e.errcode, status: e.status };
}
console.log(JSON.stringify({
  names: Object.keys(thumbnail).sort(),
  sizes: all.map((r) => [r.width, r.height, r.contentType]),
  blurhash: typeof all[0].blurhash,
  plainBlurhash: typeof plain[0].blurhash,
  refused,
}));
`;

describe("matrix-media-kit/thumbnail (built package)", () => {
  it("exports the public API and thumbnails end to end", () => {
    const out = runBuiltScript(script, ["dist/thumbnail/index.js"]);
    for (const name of [
      "createThumbnailer",
      "DEFAULT_THUMBNAIL_SIZES",
      "DEFAULT_THUMBNAILER_OPTIONS",
      "THUMBNAIL_CHANNEL",
      "outputDimensions",
    ]) {
      assert.ok(out.names.includes(name), `${name} is exported`);
    }
    assert.deepEqual(out.sizes, [
      [32, 32, "image/jpeg"],
      [96, 96, "image/jpeg"],
      [320, 240, "image/jpeg"],
      [640, 480, "image/jpeg"],
      [640, 480, "image/jpeg"],
    ]);
    assert.equal(out.blurhash, "string");
    assert.equal(out.plainBlurhash, "undefined");
    assert.deepEqual(out.refused, { name: "MediaError", errcode: "M_UNSUPPORTED", status: 400 });
  });
});
