import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { ConfigError, MediaError } from "../../src/errors.js";
import {
  createThumbnailer,
  DEFAULT_THUMBNAIL_SIZES,
  type Thumbnailer,
} from "../../src/thumbnail/index.js";
import { posterWindow } from "../../src/thumbnail/video-frame.js";
import { sniffVideo } from "../../src/thumbnail/video-sniff.js";
import { childProcesses, color, ffmpeg, scratch } from "./video-fixtures.js";

const h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"];

async function meanRgb(png: Buffer): Promise<number[]> {
  const { channels } = await sharp(png).stats();
  return channels.slice(0, 3).map((c) => c.mean);
}

describe("video thumbnails", () => {
  let dir: string;
  let done: () => Promise<void>;
  let thumbnailer: Thumbnailer;
  const v: Record<string, Buffer> = {};

  before(async () => {
    ({ dir, done } = await scratch());
    thumbnailer = createThumbnailer();
    const src = ["-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=2"];
    v.mp4 = await ffmpeg(dir, "a.mp4", [...src, ...h264]);
    v.mov = await ffmpeg(dir, "a.mov", [...src, ...h264, "-f", "mov"]);
    v.webm = await ffmpeg(dir, "a.webm", [...src, "-c:v", "libvpx-vp9", "-b:v", "200k"]);
    v.mkv = await ffmpeg(dir, "a.mkv", [...src, "-c:v", "mpeg4"]);
    // 12 s (long): black for 1 s, then red. 5 s (short): blue until 0.3 s, then green.
    v.blackStart = await ffmpeg(dir, "black.mp4", [
      ...color("black", "160x120", 1),
      ...color("red", "160x120", 11),
      ...["-filter_complex", "[0][1]concat=n=2:v=1", ...h264],
    ]);
    v.short = await ffmpeg(dir, "short.mp4", [
      ...color("blue", "160x120", 0.3),
      ...color("green", "160x120", 4.7),
      ...["-filter_complex", "[0][1]concat=n=2:v=1", ...h264],
    ]);
    const small = ["-f", "lavfi", "-i", "testsrc2=s=160x120:d=0.5"];
    v.hevc = await ffmpeg(dir, "hevc.mp4", [
      ...[...small, "-c:v", "libx265", "-preset", "ultrafast"],
      ...["-x265-params", "log-level=error"],
    ]);
    v.av1 = await ffmpeg(dir, "av1.mp4", [
      ...small,
      "-c:v",
      "libaom-av1",
      "-cpu-used",
      "8",
      "-b:v",
      "100k",
    ]);
    v.theora = await ffmpeg(dir, "theora.mkv", [...small, "-c:v", "libtheora"]);
    v.allBlack = await ffmpeg(dir, "allblack.webm", [
      ...color("black", "160x120", 2),
      "-c:v",
      "libvpx",
    ]);
    const landscape = path("land.mp4");
    await ffmpeg(dir, "land.mp4", [...src, ...h264]);
    // A phone's portrait video: stored landscape, with a display rotation of 90°.
    v.rotated = await ffmpeg(dir, "rot.mp4", [
      "-i",
      landscape,
      "-c",
      "copy",
      "-metadata:s:v:0",
      "rotate=90",
    ]);
  });
  after(() => done());
  const path = (name: string): string => `${dir}/${name}`;

  it("sniffs the four containers from their magic bytes", () => {
    assert.deepEqual(sniffVideo(v.mp4!), { mime: "video/mp4", demuxer: "mov" });
    assert.deepEqual(sniffVideo(v.mov!), { mime: "video/quicktime", demuxer: "mov" });
    assert.deepEqual(sniffVideo(v.webm!), { mime: "video/webm", demuxer: "matroska" });
    assert.deepEqual(sniffVideo(v.mkv!), { mime: "video/x-matroska", demuxer: "matroska" });
    assert.equal(sniffVideo(Buffer.from("#EXTM3U\n#EXT-X-VERSION:3\n")), undefined);
  });

  for (const [kind, mime] of [
    ["mp4", "video/mp4"],
    ["mov", "video/quicktime"],
    ["webm", "video/webm"],
    ["mkv", "video/x-matroska"],
  ] as const) {
    it(`${kind}: probe, then every configured size from the poster frame`, async () => {
      const p = await thumbnailer.probe(v[kind]!);
      assert.deepEqual([p.mime, p.width, p.height, p.animated], [mime, 640, 360, false]);
      const all = await thumbnailer.generateAll(v[kind]!);
      assert.equal(all.length, DEFAULT_THUMBNAIL_SIZES.length);
      for (const t of all) {
        assert.equal(t.contentType, "image/jpeg");
        assert.ok(t.width <= 640 && t.height <= 360, `no upscaling: ${t.width}×${t.height}`);
        const meta = await sharp(t.data).metadata();
        assert.deepEqual([meta.width, meta.height], [t.width, t.height]);
        assert.equal(meta.exif, undefined);
      }
      const crop = all.find((t) => t.method === "crop" && t.requestedWidth === 96)!;
      assert.deepEqual([crop.width, crop.height], [96, 96]);
    });
  }

  it("decodes HEVC and AV1 (dav1d); refuses a codec outside the allowlist", async () => {
    for (const kind of ["hevc", "av1"]) {
      const t = await thumbnailer.generate(v[kind]!, { width: 96, height: 96, method: "crop" });
      assert.deepEqual([t.width, t.height], [96, 96], kind);
    }
    await assert.rejects(
      thumbnailer.generate(v.theora!, { width: 96, height: 96, method: "crop" }),
      (e: unknown) => MediaError.is(e) && e.errcode === "M_UNSUPPORTED" && /theora/.test(e.message),
    );
  });

  it("skips black frames at the start of a long clip", async () => {
    const t = await thumbnailer.generate(v.blackStart!, { width: 64, height: 64, method: "scale" });
    const [r, g, b] = await meanRgb(t.data);
    assert.ok(r! > 150 && g! < 80 && b! < 80, `expected red, got ${[r, g, b].join(",")}`);
  });

  it("takes a short clip's frame from 10% in", async () => {
    const t = await thumbnailer.generate(v.short!, { width: 64, height: 64, method: "scale" });
    const [r, g, b] = await meanRgb(t.data);
    assert.ok(g! > 80 && b! < 80 && r! < 80, `expected green, got ${[r, g, b].join(",")}`);
    assert.deepEqual(posterWindow(5, { shortClipMs: 10_000, posterWindowMs: 3_000 }), {
      start: 0.5,
      window: 3,
    });
    assert.deepEqual(posterWindow(undefined, { shortClipMs: 10_000, posterWindowMs: 3_000 }), {
      start: 0,
      window: 3,
    });
  });

  it("falls back to the first frame when every frame of the window is black", async () => {
    const t = await thumbnailer.generate(v.allBlack!, { width: 64, height: 64, method: "scale" });
    const [r] = await meanRgb(t.data);
    assert.ok(r! < 30);
    assert.deepEqual([t.width, t.height], [64, 48]);
  });

  it("respects a phone video's display rotation: portrait thumbnails", async () => {
    const p = await thumbnailer.probe(v.rotated!);
    assert.deepEqual([p.width, p.height], [360, 640]);
    const t = await thumbnailer.generate(v.rotated!, { width: 320, height: 320, method: "scale" });
    assert.deepEqual([t.width, t.height], [180, 320]);
  });

  it("takes its queue slots from the image queue", async () => {
    const one = createThumbnailer({ concurrency: 1, maxQueue: 0 });
    const image = await sharp({
      create: { width: 32, height: 32, channels: 3, background: "#08f" },
    })
      .png()
      .toBuffer();
    const video = one.generate(v.mp4!, { width: 96, height: 96, method: "crop" });
    await assert.rejects(
      one.generate(image, { width: 16, height: 16, method: "crop" }),
      (e: unknown) => MediaError.is(e) && e.errcode === "M_LIMIT_EXCEEDED",
    );
    assert.equal((await video).width, 96);
    assert.deepEqual(await childProcesses(), []);
  });

  it("reports itself unavailable once when ffmpeg is missing; images keep working", async () => {
    const lines: string[] = [];
    const missing = createThumbnailer({
      video: { ffmpegPath: "/nonexistent/ffmpeg" },
      logger: { warn: (m) => lines.push(m) },
    });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        missing.generateAll(v.mp4!),
        (e: unknown) => MediaError.is(e) && e.errcode === "M_UNSUPPORTED" && e.status === 400,
      );
    }
    const support = await missing.videoSupport();
    assert.equal(support.available, false);
    assert.match(support.reason!, /\/nonexistent\/ffmpeg/);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /Video thumbnails are unavailable.*\/nonexistent\/ffmpeg/);
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: "#f00" } })
      .png()
      .toBuffer();
    assert.equal(
      (await missing.generate(png, { width: 32, height: 32, method: "crop" })).width,
      30,
    );
    assert.equal((await thumbnailer.videoSupport()).available, true);
  });

  it("with video off, a video is a type without thumbnails", async () => {
    const off = createThumbnailer({ video: { enabled: false } });
    await assert.rejects(
      off.generate(v.mp4!, { width: 32, height: 32, method: "crop" }),
      (e: unknown) => MediaError.is(e) && e.errcode === "M_UNSUPPORTED",
    );
    assert.deepEqual(await off.videoSupport(), {
      available: false,
      reason: "video.enabled is false",
    });
  });

  it("validates the video options, naming the option", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ timeoutMs: -1 }, /options\.video\.timeoutMs.*positive integer.*-1/],
      [{ ffmpegPath: "" }, /options\.video\.ffmpegPath/],
      [{ enabled: "yes" }, /options\.video\.enabled.*boolean/],
      [{ cpuSecond: 3 }, /options\.video\.cpuSecond/],
      [
        { timeoutMs: 19_000 },
        /video\.timeoutMs \+ options\.video\.maxDurationProbeMs \(24000\).*20000/,
      ],
    ];
    for (const [video, message] of cases) {
      assert.throws(
        () => createThumbnailer({ video: video as never }),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
      );
    }
  });
});
