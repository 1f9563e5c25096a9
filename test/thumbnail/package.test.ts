// The built package, imported the way a user does (through the `exports` map), in a fresh
// process: the public names are there and a thumbnail is made end to end.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

const root = path.resolve(import.meta.dirname, "../..");

const script = `
import sharp from "sharp";
const thumbnail = await import("matrix-media-kit/thumbnail");
const jpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: "#c33" } }).jpeg().toBuffer();
const t = thumbnail.createThumbnailer();
const all = await t.generateAll(jpeg);
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
  refused,
}));
`;

describe("matrix-media-kit/thumbnail (built package)", () => {
  it("exports the public API and thumbnails end to end", () => {
    assert.ok(
      existsSync(path.join(root, "dist/thumbnail/index.js")),
      "dist/thumbnail is missing: run `npm run build` first",
    );
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: root,
      encoding: "utf8",
    });
    assert.equal(result.status, 0, result.stderr);
    const out = JSON.parse(result.stdout.trim().split("\n").pop()!);
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
    assert.deepEqual(out.refused, { name: "MediaError", errcode: "M_UNSUPPORTED", status: 400 });
  });
});
