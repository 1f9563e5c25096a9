// Thumbnail amplification and size limits: requests snap to the configured sizes, dynamic
// sizes only when enabled and at most limits.maxDynamicThumbnailsPerMedia per media; a source
// too large to thumbnail is 413 M_TOO_LARGE, through the repository and over HTTP.
import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, it } from "node:test";
import sharp from "sharp";
import { fsDatastore, routeByKind } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore } from "../../src/metadata/memory.js";
import { createMediaRepository, type MediaRepositoryOptions } from "../../src/repository/index.js";
import {
  createThumbnailer,
  DEFAULT_THUMBNAIL_SIZES,
  type ThumbnailerOptions,
} from "../../src/thumbnail/index.js";
import { createFixture, request, SERVER_NAME, TOKENS, upload } from "../http/fixture.js";
import { tempDir } from "../harness/tmp.js";

const ORIGIN = "example.org";
const ALICE = "@alice:example.org";
const CONFIGURED = DEFAULT_THUMBNAIL_SIZES.length;

async function blobCount(store: Datastore): Promise<number> {
  let n = 0;
  for await (const _ of store.list!()) n++;
  return n;
}

/** A repository whose thumbnails go to their own datastore, so that its blobs can be counted. */
async function setup(
  thumbnailerOptions: ThumbnailerOptions = {},
  extra: Partial<MediaRepositoryOptions> = {},
) {
  const dir = await tempDir("mmk-thumblimits-");
  const media = fsDatastore({ id: "media", root: path.join(dir.path, "media"), fsync: false });
  const thumbs = fsDatastore({ id: "thumbs", root: path.join(dir.path, "thumbs"), fsync: false });
  const metadata = memoryMetadataStore();
  const base = {
    serverName: ORIGIN,
    ids: createMediaIdGenerator({ machineId: 6 }),
    datastore: routeByKind({ local: media, thumbnail: thumbs }),
    metadata,
  };
  const thumbnailer = createThumbnailer(thumbnailerOptions);
  const repo = createMediaRepository({ ...base, thumbnailer, ...extra });
  // Uploads through this one are not pre-generated (as remote media are not).
  const bare = createMediaRepository(base);
  after(async () => {
    await repo.close();
    await bare.close();
    await dir.cleanup();
  });
  const stored = async (mediaId: string) => (await metadata.getThumbnails(ORIGIN, mediaId)).length;
  return { repo, bare, thumbs, stored };
}

const photo = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: "#3a7" } })
    .jpeg()
    .toBuffer();

const widths = Array.from({ length: 100 }, (_, i) => 40 + i * 17); // 40 … 1723

describe("thumbnail amplification", () => {
  it("100 distinct widths of pre-generated media store nothing more", async () => {
    const { repo, thumbs, stored } = await setup();
    const { record } = await repo.upload(await photo(2000, 1500), {
      uploader: ALICE,
      contentType: "image/jpeg",
    });
    await repo.whenIdle();
    assert.equal(await stored(record.mediaId), CONFIGURED);
    for (const width of widths) {
      const t = await repo.thumbnail(ORIGIN, record.mediaId, {
        width,
        height: Math.round((width * 3) / 4),
        method: "scale",
      });
      // The smallest configured scale size at least as large, else the largest (800×600).
      const expected = width <= 320 ? 320 : width <= 640 ? 640 : 800;
      assert.equal(t.width, expected, `width ${width}`);
    }
    for (const side of [20, 50, 97, 200, 1000]) {
      const t = await repo.thumbnail(ORIGIN, record.mediaId, {
        width: side,
        height: side,
        method: "crop",
      });
      assert.equal(t.width, side <= 32 ? 32 : 96, `crop ${side}`);
    }
    assert.equal(await stored(record.mediaId), CONFIGURED, "metadata records");
    assert.equal(await blobCount(thumbs), CONFIGURED, "datastore blobs");
  });

  it("100 distinct widths of media without stored thumbnails make the configured sizes only", async () => {
    const { repo, bare, thumbs, stored } = await setup();
    const { record } = await bare.upload(await photo(2000, 1500), {
      uploader: ALICE,
      contentType: "image/jpeg",
    });
    const results = await Promise.all(
      widths.map((width) =>
        repo.thumbnail(ORIGIN, record.mediaId, {
          width,
          height: Math.round((width * 3) / 4),
          method: "scale",
        }),
      ),
    );
    assert.ok(results.every((t) => [320, 640, 800].includes(t.width)));
    assert.ok((await stored(record.mediaId)) <= CONFIGURED);
    assert.ok((await blobCount(thumbs)) <= CONFIGURED);
  });

  it("dynamic sizes when enabled, at most maxDynamicThumbnailsPerMedia stored per media", async () => {
    const { repo, bare, thumbs, stored } = await setup(
      { dynamic: true },
      { limits: { maxDynamicThumbnailsPerMedia: 3 } },
    );
    const { record } = await bare.upload(await photo(2000, 1500), {
      uploader: ALICE,
      contentType: "image/jpeg",
    });
    const exact: number[] = [];
    for (const width of widths) {
      const height = Math.round((width * 3) / 4);
      const t = await repo.thumbnail(ORIGIN, record.mediaId, { width, height, method: "scale" });
      assert.ok(t.width >= Math.min(width, 800), `width ${width}: got ${t.width}`);
      if (t.width === width && ![320, 640, 800].includes(width)) exact.push(width);
    }
    // Exact sizes within the dynamic bounds (800×600) until three are stored, then the
    // configured ones (320, 640 and 800 wide).
    assert.deepEqual(exact, [40, 57, 74]);
    assert.equal(await stored(record.mediaId), 3 + 3, "metadata records");
    assert.equal(await blobCount(thumbs), 3 + 3, "datastore blobs");
  });

  it("concurrent dynamic requests respect the allowance too", async () => {
    const { repo, bare, stored } = await setup(
      { dynamic: true, maxQueue: 200 },
      { limits: { maxDynamicThumbnailsPerMedia: 4 } },
    );
    const { record } = await bare.upload(await photo(1600, 1200), {
      uploader: ALICE,
      contentType: "image/jpeg",
    });
    await Promise.all(
      widths.slice(0, 40).map((width) =>
        repo.thumbnail(ORIGIN, record.mediaId, {
          width,
          height: Math.round((width * 3) / 4),
          method: "scale",
        }),
      ),
    );
    // The 4 dynamic ones, plus the configured scale sizes served past the allowance.
    assert.ok((await stored(record.mediaId)) <= 4 + 3, `${await stored(record.mediaId)} stored`);
  });
});

describe("a source too large to thumbnail is 413 M_TOO_LARGE", () => {
  it("limits.maxThumbnailSourceBytes and the thumbnailer's maxSourceBytes, before any read", async () => {
    const bytes = await photo(400, 300);
    for (const [thumbnailerOptions, limits] of [
      [{}, { maxThumbnailSourceBytes: bytes.length - 1 }],
      [{ maxSourceBytes: bytes.length - 1 }, {}],
    ] as const) {
      const { repo, bare } = await setup(thumbnailerOptions, { limits });
      const { record } = await bare.upload(bytes, { uploader: ALICE, contentType: "image/jpeg" });
      await assert.rejects(
        repo.thumbnail(ORIGIN, record.mediaId, { width: 96, height: 96, method: "crop" }),
        { errcode: "M_TOO_LARGE", status: 413 },
      );
    }
    const { repo, bare } = await setup({ maxSourceBytes: bytes.length });
    const { record } = await bare.upload(bytes, { uploader: ALICE, contentType: "image/jpeg" });
    const t = await repo.thumbnail(ORIGIN, record.mediaId, {
      width: 96,
      height: 96,
      method: "crop",
    });
    assert.equal(t.width, 96, "a source of exactly maxSourceBytes is thumbnailed");
  });

  it("an image keeps the image limit when video.maxInputBytes is larger", async () => {
    const bytes = await photo(400, 300);
    const { repo, bare } = await setup({
      maxSourceBytes: bytes.length - 1,
      video: { maxInputBytes: bytes.length * 10 },
    });
    const { record } = await bare.upload(bytes, { uploader: ALICE, contentType: "image/jpeg" });
    await assert.rejects(
      repo.thumbnail(ORIGIN, record.mediaId, { width: 96, height: 96, method: "crop" }),
      { errcode: "M_TOO_LARGE", status: 413 },
    );
    const thumbnailer = createThumbnailer({
      maxSourceBytes: 1000,
      video: { maxInputBytes: 5000 },
    });
    assert.equal(thumbnailer.maxSourceBytesFor("image/png"), 1000);
    assert.equal(thumbnailer.maxSourceBytesFor('Video/MP4; codecs="avc1"'), 5000);
    assert.equal(thumbnailer.maxSourceBytes, 5000);
  });

  it("over HTTP: 413 with errcode M_TOO_LARGE", async () => {
    const f = await createFixture({ limits: { maxThumbnailSourceBytes: 100 } });
    after(() => f.close());
    const { mediaId } = await upload(f.baseUrl, await photo(400, 300), "image/jpeg");
    for (const route of ["/_matrix/client/v1/media/thumbnail", "/_matrix/media/v3/thumbnail"]) {
      const res = await request(
        f.baseUrl,
        "GET",
        `${route}/${SERVER_NAME}/${mediaId}?width=96&height=96&method=crop`,
        { token: TOKENS.alice },
      );
      assert.equal(res.status, 413, route);
      assert.equal(res.json().errcode, "M_TOO_LARGE");
    }
  });
});
