// Video poster frame + the 5 configured sizes of a 1080p H.264 10 s clip: wall time and CPU
// per clip (this process and its ffmpeg children), ours (sniff, sandboxed ffprobe + ffmpeg
// with the black-frame filter, the image pipeline) against a bare `ffmpeg -ss 1 -i clip
// -frames:v 1` PNG + the same image pipeline, in the same run; and peak RSS of both.
//
//   node --expose-gc --import tsx bench/thumbnail-video.bench.ts
//
// The clip is generated once at start with lavfi testsrc2 (libx264 when Debian's ffmpeg has
// it, else mpeg4). BENCH_ROUNDS clips are timed for each side, interleaved.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { finish, report } from "./lib.js";
import { createThumbnailer } from "../src/thumbnail/index.js";

sharp.cache(false);

const FFMPEG = process.env.FFMPEG ?? "/usr/bin/ffmpeg";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const TICK_MS = 1000 / 100; // USER_HZ

/** CPU ms of this process and of its reaped children (ffmpeg), from /proc/self/stat. */
function cpuMs(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime, stime, cutime, cstime are fields 14–17 (1-based), 12–15 after pid and comm.
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) * TICK_MS;
}

/** Samples this process's RSS growth and its children's RSS while `fn` runs. */
async function peaks<T>(fn: () => Promise<T>): Promise<{ nodeMb: number; childMb: number }> {
  globalThis.gc?.();
  const base = process.memoryUsage.rss();
  let node = base;
  let child = 0;
  const sample = (): void => {
    node = Math.max(node, process.memoryUsage.rss());
    let kids: string[];
    try {
      kids = readFileSync(`/proc/self/task/${process.pid}/children`, "utf8").trim().split(" ");
    } catch {
      return;
    }
    for (const pid of kids.filter(Boolean)) {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        if (m && !readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("esbuild")) {
          child = Math.max(child, Number(m[1]) * 1024);
        }
      } catch {
        // gone between the listing and the read
      }
    }
  };
  const timer = setInterval(sample, 3);
  try {
    await fn();
    sample();
  } finally {
    clearInterval(timer);
  }
  return { nodeMb: (node - base) / 1e6, childMb: child / 1e6 };
}

function encoder(): string[] {
  const encoders = execFileSync(FFMPEG, ["-hide_banner", "-encoders"], { encoding: "utf8" });
  return /\blibx264\b/.test(encoders)
    ? ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    : ["-c:v", "mpeg4", "-q:v", "4"];
}

/** The bare baseline: one PNG frame at `ss` seconds from an unsandboxed ffmpeg. */
function bareFrame(file: string, ss: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const args = ["-nostdin", "-v", "error", "-ss", ss, "-i", file, "-frames:v", "1"];
    const child = spawn(FFMPEG, [...args, "-c:v", "png", "-f", "image2pipe", "pipe:1"]);
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`ffmpeg exited ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "video-bench-"));
  try {
    const clip = path.join(dir, "clip.mp4");
    const t0 = performance.now();
    execFileSync(FFMPEG, [
      ...["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"],
      ...["-i", "testsrc2=s=1920x1080:r=30:d=10", ...encoder(), clip],
    ]);
    const bytes = readFileSync(clip);
    console.log(
      `clip generated in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
        `${(bytes.length / 1e6).toFixed(1)} MB, ${ROUNDS} rounds per side`,
    );
    const thumbnailer = createThumbnailer();
    const ours = async (): Promise<number> => (await thumbnailer.generateAll(bytes)).length;
    const bare = async (): Promise<number> =>
      (await thumbnailer.generateAll(await bareFrame(clip, "1"))).length;
    // Ours starts a 10 s clip at 0 (see the frame rule); this one decodes no more than ours.
    const bare0 = async (): Promise<number> =>
      (await thumbnailer.generateAll(await bareFrame(clip, "0"))).length;
    if ((await ours()) !== 5 || (await bare()) !== 5 || (await bare0()) !== 5) {
      throw new Error("expected 5 sizes");
    }

    const totals = {
      ours: { wall: 0, cpu: 0 },
      bare: { wall: 0, cpu: 0 },
      bare0: { wall: 0, cpu: 0 },
    };
    for (let i = 0; i < ROUNDS; i++) {
      for (const [name, run] of [
        ["ours", ours],
        ["bare", bare],
        ["bare0", bare0],
      ] as const) {
        const c = cpuMs();
        const w = performance.now();
        await run();
        totals[name].wall += performance.now() - w;
        totals[name].cpu += cpuMs() - c;
      }
    }
    const per = (n: number): number => n / ROUNDS;
    const baselineName = "bare ffmpeg -ss + same sharp";
    const target = Number((1 / 1.2).toFixed(3));
    report({
      name: "1080p H.264 poster + 5 sizes: wall per clip",
      value: per(totals.ours.wall),
      baseline: per(totals.bare.wall),
      baselineName,
      unit: "ms",
      lowerIsBetter: true,
      target,
    });
    report({
      name: "1080p H.264 poster + 5 sizes: CPU per clip",
      value: per(totals.ours.cpu),
      baseline: per(totals.bare.cpu),
      baselineName,
      unit: "ms",
      lowerIsBetter: true,
      target,
      note: "this process + ffmpeg/ffprobe children",
    });
    for (const [what, key] of [
      ["wall", "wall"],
      ["CPU", "cpu"],
    ] as const) {
      report({
        name: `1080p H.264 poster + 5 sizes: ${what}/clip, vs frame 0`,
        value: per(totals.ours[key]),
        baseline: per(totals.bare0[key]),
        baselineName: "bare ffmpeg -ss 0 + same sharp",
        unit: "ms",
        lowerIsBetter: true,
        target,
      });
    }
    const o = await peaks(ours);
    const b = await peaks(bare);
    report({
      name: "1080p H.264 poster + 5 sizes: peak RSS",
      value: o.nodeMb + o.childMb,
      baseline: b.nodeMb + b.childMb,
      baselineName,
      unit: "MB",
      lowerIsBetter: true,
      note: `node growth ${o.nodeMb.toFixed(1)} + ffmpeg ${o.childMb.toFixed(1)} (bare ${b.nodeMb.toFixed(1)} + ${b.childMb.toFixed(1)})`,
    });
    const left = readdirSync(tmpdir()).filter((f) => f.startsWith("mmk-video-"));
    if (left.length > 0) console.log(`note: temp dirs present: ${left.length}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    finish();
  }
}

await main();
