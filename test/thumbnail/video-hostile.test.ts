// Hostile videos, all made here: each is refused with a MediaError or thumbnailed within the
// time limit, no connection reaches the loopback listener they name, no process is left.
import { chmod, mkdir, readdir } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { MediaError } from "../../src/errors.js";
import { createThumbnailer, type Thumbnailer } from "../../src/thumbnail/index.js";
import { runSandboxed } from "../../src/thumbnail/video-process.js";
import {
  childProcesses,
  color,
  connectionCounter,
  ffmpeg,
  forgeMatroskaSize,
  put,
  scratch,
  zipArchive,
} from "./video-fixtures.js";

const h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"];
const limits = {
  prlimitPath: "/usr/bin/prlimit",
  cpuSeconds: 5,
  memoryBytes: 1024 * 1024 * 1024,
  maxOpenFiles: 64,
  maxProcesses: 0,
};

type Outcome = { refused: MediaError } | { width: number; height: number };

describe("hostile videos", () => {
  let dir: string;
  let done: () => Promise<void>;
  let listener: Awaited<ReturnType<typeof connectionCounter>>;
  let thumbnailer: Thumbnailer;
  const files: Record<string, Buffer> = {};

  let privateTmp: string;
  const savedTmp = process.env.TMPDIR;
  before(async () => {
    ({ dir, done } = await scratch());
    // The extractor's temp files go here from now on, so that leftovers can be counted.
    privateTmp = `${dir}/tmp`;
    await mkdir(privateTmp);
    process.env.TMPDIR = privateTmp;
    listener = await connectionCounter();
    thumbnailer = createThumbnailer({ timeoutMs: 30_000, video: { timeoutMs: 20_000 } });
    const url = `http://127.0.0.1:${listener.port}`;
    const whole = await ffmpeg(dir, "whole.mp4", [...color("red", "64x48", 2), ...h264]);
    // moov is written after mdat: cutting the file in half leaves no moov.
    files.truncated = whole.subarray(0, Math.floor(whole.length / 2));
    const mkv = await ffmpeg(dir, "big.mkv", [
      "-f",
      "lavfi",
      "-i",
      "testsrc2=s=256x256:d=1",
      ...h264,
    ]);
    files.claims65535 = forgeMatroskaSize(mkv, 65535, 65535);
    files.claims16000 = forgeMatroskaSize(mkv, 16000, 16000);
    // Ten hours of a still at one frame a minute, with no audio.
    files.tenHours = await ffmpeg(dir, "long.mp4", [
      ...color("navy", "64x48", 36_000, 1 / 60),
      ...h264,
    ]);
    const playlist = `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${url}/segment.ts\n#EXT-X-ENDLIST\n`;
    files.hls = Buffer.from(playlist);
    const concat = `ffconcat version 1.0\nfile '${url}/clip.mp4'\n`;
    files.concat = Buffer.from(concat);
    // The same scripts behind an MP4 signature, so that they reach ffmpeg.
    const ftyp = Buffer.from("000000186674797069736f6d0000020069736f6d69736f32", "hex");
    files.hlsBehindFtyp = Buffer.concat([ftyp, files.hls]);
    files.concatBehindFtyp = Buffer.concat([ftyp, files.concat]);
    const font = await put(dir, "font.ttf", Buffer.alloc(2048, 7));
    files.attachment = await ffmpeg(dir, "att.mkv", [
      ...["-f", "lavfi", "-i", "testsrc2=s=120x90:d=1", ...h264],
      ...["-attach", font, "-metadata:s:t", "mimetype=application/x-truetype-font"],
    ]);
    files.zip = zipArchive();
    // A cover picture (attached_pic) next to the video: the poster comes from the video.
    const cover = await put(
      dir,
      "cover.png",
      await ffmpeg(dir, "cover-src.png", [...color("yellow", "64x64", 0.04), "-frames:v", "1"]),
    );
    const plain = await put(
      dir,
      "plain.mp4",
      await ffmpeg(dir, "plain-src.mp4", ["-f", "lavfi", "-i", "testsrc2=s=120x90:d=1", ...h264]),
    );
    files.coverArt = await ffmpeg(dir, "cover.mp4", [
      ...["-i", cover, "-i", plain, "-map", "0", "-map", "1", "-c", "copy"],
      ...["-disposition:v:0", "attached_pic"],
    ]);
  });
  after(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await listener.close();
    await done();
  });

  async function outcome(bytes: Buffer): Promise<Outcome> {
    try {
      const t = await thumbnailer.generate(bytes, { width: 96, height: 96, method: "scale" });
      return { width: t.width, height: t.height };
    } catch (err) {
      assert.ok(MediaError.is(err), `a MediaError, not ${String(err)}`);
      return { refused: err };
    }
  }

  const refusedWith =
    (errcode: string, status?: number) =>
    (o: Outcome): void => {
      assert.ok("refused" in o, `expected a refusal, got ${JSON.stringify(o)}`);
      assert.equal(o.refused.errcode, errcode, o.refused.message);
      if (status !== undefined) assert.equal(o.refused.status, status);
    };

  const cases: Array<[string, (o: Outcome) => void]> = [
    ["truncated", refusedWith("M_UNKNOWN", 400)],
    [
      "claims65535",
      (o) => assert.ok("refused" in o, "a 65535×65535 claim is refused before decoding"),
    ],
    ["claims16000", refusedWith("M_TOO_LARGE", 413)],
    ["tenHours", (o) => assert.deepEqual(o, { width: 64, height: 48 })],
    ["hls", refusedWith("M_UNSUPPORTED", 400)],
    ["concat", refusedWith("M_UNSUPPORTED", 400)],
    ["hlsBehindFtyp", refusedWith("M_UNKNOWN", 400)],
    ["concatBehindFtyp", refusedWith("M_UNKNOWN", 400)],
    ["attachment", (o) => assert.deepEqual(o, { width: 96, height: 72 })],
    ["zip", refusedWith("M_UNSUPPORTED", 400)],
    ["coverArt", (o) => assert.deepEqual(o, { width: 96, height: 72 })],
  ];
  for (const [name, check] of cases) {
    it(`${name}: refused or thumbnailed, no connection, no process left`, async () => {
      check(await outcome(files[name]!));
      assert.equal(listener.count(), 0);
      assert.deepEqual(await childProcesses(), []);
      assert.deepEqual(await readdir(privateTmp), [], "the private temp file is removed");
    });
  }

  it("the ten-hour video's probe reports its dimensions without decoding it", async () => {
    const p = await thumbnailer.probe(files.tenHours!);
    assert.deepEqual([p.mime, p.width, p.height], ["video/mp4", 64, 48]);
  });

  it("ffprobe sees a 0600 file in a 0700 directory, and cannot write files", async () => {
    // A stand-in ffprobe that reports the modes of its input and of its directory, then fails
    // so that its stderr travels in the refusal's cause.
    const spy = await put(
      dir,
      "spy-ffprobe.sh",
      '#!/bin/sh\n[ "$2" = -version ] && exec /usr/bin/ffprobe "$@"\n' +
        'for last; do :; done\nstat -c "%a" "$(dirname "$last")" "$last" >&2\n' +
        '(echo x > "$(dirname "$last")/written") 2>/dev/null || echo "write refused" >&2\nexit 1\n',
    );
    await chmod(spy, 0o755);
    const spied = createThumbnailer({ video: { ffprobePath: spy } });
    const err = await spied.probe(files.attachment!).then(
      () => assert.fail("the stand-in always fails"),
      (e: unknown) => e,
    );
    assert.ok(MediaError.is(err));
    const report = String((err.cause as Error).message).split("\n");
    assert.deepEqual(report.slice(0, 2), ["700", "600"]);
    // RLIMIT_FSIZE=0: the write is killed by SIGXFSZ (the shell says so) and fails.
    assert.ok(report.includes("write refused"), report.join(" | "));
    assert.deepEqual(await readdir(privateTmp), []);
  });

  it("a deadline kills the whole process group", async () => {
    // A duration no other process on the machine uses, so that pgrep finds only ours.
    const marker = `sleep 60.${process.pid}${Date.now() % 1000}`;
    const started = Date.now();
    const r = await runSandboxed("/bin/sh", ["-c", `${marker} & ${marker} & wait`], limits, {
      timeoutMs: 300,
      maxStdoutBytes: 1024,
    });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, "SIGKILL");
    assert.ok(Date.now() - started < 30_000);
    assert.deepEqual(await childProcesses(), []);
    const { execFile } = await import("node:child_process");
    const sleepers = await new Promise<string>((resolve) =>
      execFile("pgrep", ["-f", `^${marker}$`], (_e, stdout) => resolve(stdout)),
    );
    assert.equal(sleepers.trim(), "", "the grandchildren went with the group");
  });

  it("the CPU limit stops a busy process", async () => {
    const r = await runSandboxed(
      "/bin/sh",
      ["-c", "while :; do :; done"],
      { ...limits, cpuSeconds: 1 },
      {
        timeoutMs: 60_000,
        maxStdoutBytes: 1024,
      },
    );
    assert.equal(r.timedOut, false);
    assert.ok(r.signal === "SIGXCPU" || r.signal === "SIGKILL", String(r.signal));
  });

  it("the memory limit and the stdout bound are enforced", async () => {
    const tiny = await runSandboxed(
      "/usr/bin/ffmpeg",
      ["-version"],
      { ...limits, memoryBytes: 16 * 1024 * 1024 },
      {
        timeoutMs: 30_000,
        maxStdoutBytes: 1024 * 1024,
      },
    );
    assert.notEqual(tiny.code, 0, "ffmpeg cannot even load its libraries in 16 MiB");
    const chatty = await runSandboxed("/bin/sh", ["-c", "yes"], limits, {
      timeoutMs: 30_000,
      maxStdoutBytes: 64 * 1024,
    });
    assert.equal(chatty.overflow, true);
    assert.equal(chatty.stdout.length, 0);
  });

  it("a video deadline too short to decode is a 504, with nothing left running", async () => {
    const hurried = createThumbnailer({ video: { timeoutMs: 1 } });
    await assert.rejects(
      hurried.generate(files.attachment!, { width: 32, height: 32, method: "crop" }),
      (e: unknown) => MediaError.is(e) && e.status === 504,
    );
    assert.deepEqual(await childProcesses(), []);
  });

  it("control: an ffmpeg allowed http does connect to the listener the playlist names", async () => {
    // ffmpeg 5.1's HLS demuxer already limits a local playlist to file,crypto,data; widening
    // that shows that the fixture and the listener would catch a fetch.
    const file = await put(dir, "control.m3u8", files.hls!);
    const before = listener.count();
    const args = ["-nostdin", "-protocol_whitelist", "file,http,tcp,crypto,data", "-i", file];
    await runSandboxed("/usr/bin/ffmpeg", [...args, "-f", "null", "-"], limits, {
      timeoutMs: 20_000,
      maxStdoutBytes: 1024 * 1024,
    });
    assert.ok(listener.count() > before, "the playlist's URL is fetched by a bare ffmpeg");
  });
});
