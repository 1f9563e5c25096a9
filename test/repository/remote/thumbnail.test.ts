// Thumbnails of remote media are made locally from the stored original (sharp), once fetched.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sharp from "sharp";
import { createThumbnailer } from "../../../src/thumbnail/index.js";
import { bodyOf, countingSource, REMOTE, setup } from "./helpers.js";

describe("remote media: thumbnails", () => {
  it("generates a thumbnail of a remote PNG locally and stores it", async () => {
    const png = await sharp({
      create: { width: 640, height: 480, channels: 3, background: "#2a6" },
    })
      .png()
      .toBuffer();
    const source = countingSource(async () => bodyOf(png, { contentType: "image/png" }));
    const thumbnailer = createThumbnailer({
      sizes: [{ width: 96, height: 96, method: "scale" }],
    });
    const { repo, metadata } = await setup({ source }, { thumbnailer });
    const thumb = await repo.thumbnail(REMOTE, "pic", { width: 64, height: 64, method: "scale" });
    assert.equal(source.calls, 1, "the original was fetched once, the thumbnail made here");
    assert.ok(thumb.width >= 64 && thumb.width <= 96, `width ${thumb.width}`);
    const meta = await sharp(thumb.buffer).metadata();
    assert.equal(meta.width, thumb.width);
    assert.equal((await metadata.getMedia(REMOTE, "pic"))?.kind, "remote");
    await repo.whenIdle();
    const stored = await metadata.getThumbnails(REMOTE, "pic");
    assert.ok(stored.length >= 1, "the thumbnail of the remote media is recorded");
    // Served again from what is stored: no further fetch.
    const again = await repo.thumbnail(REMOTE, "pic", { width: 64, height: 64, method: "scale" });
    assert.equal(again.sha256, thumb.sha256);
    assert.equal(source.calls, 1);
  });
});
