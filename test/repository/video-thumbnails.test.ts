// Videos through the repository: poster-frame thumbnails at upload and on demand, and with
// ffmpeg missing, no thumbnail (the behaviour of any type without thumbnails).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import path from "node:path";
import { fsDatastore } from "../../src/datastore/index.js";
import { tempDir } from "../harness/tmp.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore } from "../../src/metadata/memory.js";
import { createMediaRepository } from "../../src/repository/index.js";
import { thumbnailedAtUpload } from "../../src/repository/thumbnail-policy.js";
import {
  createThumbnailer,
  DEFAULT_THUMBNAIL_SIZES,
  type ThumbnailerOptions,
} from "../../src/thumbnail/index.js";
import { ffmpeg, scratch } from "../thumbnail/video-fixtures.js";

const ORIGIN = "example.org";
const ALICE = "@alice:example.org";

async function setup(options: ThumbnailerOptions = {}) {
  const dir = await tempDir("mmk-videothumbs-");
  const metadata = memoryMetadataStore();
  const base = {
    serverName: ORIGIN,
    ids: createMediaIdGenerator({ machineId: 7 }),
    datastore: fsDatastore({ id: "media", root: path.join(dir.path, "media"), fsync: false }),
    metadata,
  };
  const repo = createMediaRepository({ ...base, thumbnailer: createThumbnailer(options) });
  const bare = createMediaRepository(base);
  after(async () => {
    await repo.close();
    await bare.close();
    await dir.cleanup();
  });
  const stored = async (mediaId: string) => (await metadata.getThumbnails(ORIGIN, mediaId)).length;
  return { repo, bare, stored };
}

describe("video thumbnails in the repository", () => {
  const videos: Record<string, Buffer> = {};
  let done: () => Promise<void>;
  before(async () => {
    const s = await scratch();
    done = s.done;
    const src = ["-f", "lavfi", "-i", "testsrc2=s=1000x750:d=1"];
    const h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"];
    videos["video/mp4"] = await ffmpeg(s.dir, "a.mp4", [...src, ...h264]);
    videos["video/quicktime"] = await ffmpeg(s.dir, "a.mov", [...src, ...h264, "-f", "mov"]);
    videos["video/webm"] = await ffmpeg(s.dir, "a.webm", [...src, "-c:v", "libvpx"]);
    videos["video/x-matroska"] = await ffmpeg(s.dir, "a.mkv", [...src, ...h264]);
  });
  after(() => done());

  it("the upload policy covers images and the four video types", () => {
    for (const type of [
      "image/png",
      "video/mp4",
      "video/quicktime",
      "video/webm",
      "video/x-matroska",
      "video/MP4; codecs=avc1",
      "video/matroska",
    ]) {
      assert.equal(thumbnailedAtUpload(type), true, type);
    }
    for (const type of ["video/x-msvideo", "application/zip", "text/plain"]) {
      assert.equal(thumbnailedAtUpload(type), false, type);
    }
  });

  it("pre-generates every configured size of an uploaded video", async () => {
    const { repo, stored } = await setup();
    for (const [contentType, bytes] of Object.entries(videos)) {
      const { record } = await repo.upload(bytes, { uploader: ALICE, contentType });
      await repo.whenIdle();
      assert.equal(await stored(record.mediaId), DEFAULT_THUMBNAIL_SIZES.length, contentType);
      const t = await repo.thumbnail(ORIGIN, record.mediaId, {
        width: 96,
        height: 96,
        method: "crop",
      });
      assert.deepEqual([t.contentType, t.width, t.height], ["image/jpeg", 96, 96]);
    }
  });

  it("generates a video's thumbnail on demand", async () => {
    const { repo, bare, stored } = await setup();
    const { record } = await bare.upload(videos["video/webm"]!, {
      uploader: ALICE,
      contentType: "video/webm",
    });
    assert.equal(await stored(record.mediaId), 0);
    const t = await repo.thumbnail(ORIGIN, record.mediaId, {
      width: 320,
      height: 240,
      method: "scale",
    });
    assert.deepEqual([t.width, t.height], [320, 240]);
    assert.equal(await stored(record.mediaId), 1);
  });

  it("without ffmpeg: no thumbnail for videos, images unaffected", async () => {
    const { repo, stored } = await setup({
      video: { ffmpegPath: "/nonexistent/ffmpeg" },
      logger: { warn: () => {} },
    });
    const { record } = await repo.upload(videos["video/mp4"]!, {
      uploader: ALICE,
      contentType: "video/mp4",
    });
    await repo.whenIdle();
    assert.equal(await stored(record.mediaId), 0);
    await assert.rejects(repo.thumbnail(ORIGIN, record.mediaId, { width: 32, height: 32 }), {
      errcode: "M_UNSUPPORTED",
    });
  });
});
