// Thumbnailer throughput and peak RSS on a generated corpus, against same-run baselines:
// bare sharp decoding once per thumbnail, Pillow the way Synapse does it (decode once, LANCZOS
// from full resolution for every size) and Pillow with draft() (JPEG DCT-domain downscale).
//
//   node --expose-gc --import tsx bench/thumbnail.bench.ts
//
// Pillow comes from Debian's python3-pil; PYTHON=/path/to/python3 picks the interpreter.
// Without Pillow the Pillow rows are skipped with the reason printed.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { finish, peakRssDuring, report } from "./lib.js";
import { createThumbnailer, DEFAULT_THUMBNAIL_SIZES } from "../src/thumbnail/index.js";

// Unique uploads never hit libvips' operation cache; keep it from flattering repeated runs.
sharp.cache(false);

const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RSS_OPS = 4;
const SIZES = DEFAULT_THUMBNAIL_SIZES;
const ON_DEMAND = { width: 320, height: 240, method: "scale" as const };

interface Item {
  name: string;
  data: Buffer;
  file: string;
  alpha: boolean;
}

/** A photo-like image: smooth colour fields plus grain, so JPEG sizes are realistic (~4.5 MB at 12 MP, q90). */
async function photoLike(width: number, height: number, seed: number): Promise<Buffer> {
  let x = (seed * 7919 + 1) >>> 0;
  const next = (): number => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  const lw = 40;
  const lh = Math.round((40 * height) / width);
  const low = Buffer.alloc(lw * lh * 3);
  for (let i = 0; i < low.length; i++) low[i] = next() >>> 24;
  const px = await sharp(low, { raw: { width: lw, height: lh, channels: 3 } })
    .resize(width, height, { kernel: "cubic", fit: "fill" })
    .raw()
    .toBuffer();
  for (let i = 0; i < px.length; i++) {
    const r = next();
    const v = px[i]! + (r >>> 27) + ((r >>> 22) & 31) - 32;
    px[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return px;
}

async function corpus(dir: string): Promise<Record<string, Item[]>> {
  const out: Record<string, Item[]> = { jpeg: [], png: [], gif: [], webp: [] };
  const add = (kind: string, name: string, data: Buffer, alpha: boolean): void => {
    const file = path.join(dir, name);
    writeFileSync(file, data);
    out[kind]!.push({ name, data, file, alpha });
  };
  for (let i = 0; i < 2; i++) {
    const raw = await photoLike(4000, 3000, i + 1);
    add(
      "jpeg",
      `photo${i}.jpg`,
      await sharp(raw, { raw: { width: 4000, height: 3000, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
      false,
    );
  }
  for (let i = 0; i < 2; i++) {
    const raw = await photoLike(1920, 1080, i + 11);
    const img = sharp(raw, { raw: { width: 1920, height: 1080, channels: 3 } });
    // One opaque screenshot-like PNG and one with an alpha channel.
    add(
      "png",
      `screen${i}.png`,
      i === 0 ? await img.png().toBuffer() : await img.ensureAlpha(0.8).png().toBuffer(),
      i === 1,
    );
    add(
      "webp",
      `photo${i}.webp`,
      await sharp(raw, { raw: { width: 1920, height: 1080, channels: 3 } })
        .webp({ quality: 85 })
        .toBuffer(),
      false,
    );
  }
  {
    const i = 0;
    const frames = 16;
    const w = 480;
    const h = 270;
    const stack = Buffer.alloc(w * h * frames * 3);
    const base = await photoLike(w, h, i + 21);
    for (let f = 0; f < frames; f++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const src = (y * w + ((x + f * 12) % w)) * 3;
          const dst = ((f * h + y) * w + x) * 3;
          stack[dst] = base[src]!;
          stack[dst + 1] = base[src + 1]!;
          stack[dst + 2] = base[src + 2]!;
        }
      }
    }
    const gif = await sharp(stack, {
      raw: { width: w, height: h * frames, channels: 3, pageHeight: h },
    })
      .gif({ delay: Array<number>(frames).fill(60), loop: 0, effort: 1 })
      .toBuffer();
    add("gif", `anim${i}.gif`, gif, true);
  }
  return out;
}

interface Figure {
  /** Operations per wall-clock second. */
  wall: number;
  /** Operations per CPU-second (all threads): robust when other processes share the cores. */
  cpu: number;
}

/** Runs `op` round-robin over the items for at least `ms` (and `minOps` times). */
async function round(
  items: Item[],
  op: (item: Item) => Promise<unknown>,
  minOps = 2,
): Promise<Figure> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ROUND_MS || n < minOps) {
    await op(items[n % items.length]!);
    n++;
  }
  const c = process.cpuUsage(c0);
  return { wall: (n * 1000) / (performance.now() - t0), cpu: (n * 1e6) / (c.user + c.system) };
}

const best = (figs: Figure[]): Figure => ({
  wall: Math.max(...figs.map((f) => f.wall)),
  cpu: Math.max(...figs.map((f) => f.cpu)),
});

// ---------------------------------------------------------------- bare sharp, per thumbnail
async function bareSharp(
  item: Item,
  size: { width: number; height: number; method: "crop" | "scale" },
): Promise<Buffer> {
  const img = sharp(item.data, { autoOrient: true }).resize(size.width, size.height, {
    fit: size.method === "crop" ? "cover" : "inside",
    withoutEnlargement: size.method === "scale",
  });
  return (item.alpha ? img.png() : img.jpeg({ quality: 80 })).toBuffer();
}

// ---------------------------------------------------------------- Pillow
// A small server: one JSON command per stdin line, one JSON answer per stdout line, so Pillow
// rounds can be interleaved with ours. Files are read into memory first, like our buffers.
const PILLOW_SCRIPT = String.raw`
import io, json, resource, sys, threading, time
from PIL import Image, ImageOps

def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

def thumbs(data, alpha, sizes, mode):
    img = Image.open(io.BytesIO(data))
    if mode == "draft" and img.format == "JPEG":
        # draft() picks the smallest DCT scale that still covers the largest size needed.
        need = max(max(w / img.width, h / img.height) for (w, h, _) in sizes)
        img.draft("RGB", (max(1, int(img.width * need)), max(1, int(img.height * need))))
    img = ImageOps.exif_transpose(img)
    img = img.convert("RGBA" if alpha else "RGB")
    out = []
    for (w, h, method) in sizes:
        if method == "scale":
            f = min(w / img.width, h / img.height, 1.0)
            t = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.LANCZOS)
        else:
            f = max(w / img.width, h / img.height)
            t = img if f >= 1 else img.resize((max(w, round(img.width * f)), max(h, round(img.height * f))), Image.LANCZOS)
            cw, ch = min(w, t.width), min(h, t.height)
            l, tp = (t.width - cw) // 2, (t.height - ch) // 2
            t = t.crop((l, tp, l + cw, tp + ch))
        buf = io.BytesIO()
        if alpha:
            t.save(buf, "PNG")
        else:
            t.save(buf, "JPEG", quality=80)
        out.append(buf.getvalue())
    return out

cache = {}
for line in sys.stdin:
    cmd = json.loads(line)
    files = []
    for (path, alpha) in cmd["files"]:
        if path not in cache:
            with open(path, "rb") as f:
                cache[path] = f.read()
        files.append((cache[path], alpha))
    sizes, mode = cmd["sizes"], cmd["mode"]
    if cmd.get("rss"):
        # Steady state: one warm-up upload first, like the Node side.
        thumbs(files[0][0], files[0][1], sizes, mode)
        # Sampled, not ru_maxrss: Linux carries the parent's high-water mark across exec.
        base = rss_bytes()
        peak = [base]
        done = threading.Event()
        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_bytes())
                time.sleep(0.005)
        sampler = threading.Thread(target=sample)
        sampler.start()
        for i in range(cmd["ops"]):
            thumbs(files[i % len(files)][0], files[i % len(files)][1], sizes, mode)
        peak[0] = max(peak[0], rss_bytes())
        done.set()
        sampler.join()
        print(json.dumps({"peakMb": max(0, peak[0] - base) / 1e6}), flush=True)
        continue
    if cmd.get("warm"):
        thumbs(files[0][0], files[0][1], sizes, mode)
    c0, t0, n = time.process_time(), time.perf_counter(), 0
    while time.perf_counter() - t0 < cmd["ms"] / 1000.0 or n < cmd["minOps"]:
        f = files[n % len(files)]
        thumbs(f[0], f[1], sizes, mode)
        n += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"wall": n / wall, "cpu": n / cpu}), flush=True)
`;

function findPython(): { python?: string; reason?: string } {
  const candidates = [process.env.PYTHON, "python3", "/usr/bin/python3"].filter(
    (c): c is string => !!c,
  );
  for (const python of candidates) {
    const r = spawnSync(python, ["-c", "import PIL.Image"], { encoding: "utf8" });
    if (r.status === 0) return { python };
  }
  return {
    reason: `Pillow is not importable from ${candidates.join(", ")} (apt-get install -y python3-pil, or set PYTHON)`,
  };
}

interface PillowServer {
  ask(cmd: object): Promise<Record<string, number>>;
  close(): void;
}

function startPillow(python: string, script: string): PillowServer {
  const child = spawn(python, [script], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<(line: string) => void> = [];
  lines.on("line", (line) => waiting.shift()?.(line));
  return {
    ask: (cmd) =>
      new Promise((resolve, reject) => {
        waiting.push((line) => {
          try {
            resolve(JSON.parse(line) as Record<string, number>);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        child.stdin.write(JSON.stringify(cmd) + "\n");
      }),
    close: () => {
      child.stdin.end();
    },
  };
}

type Size = { width: number; height: number; method: "crop" | "scale" };
const sizeList = (sizes: readonly Size[]): Array<[number, number, string]> =>
  sizes.map((s) => [s.width, s.height, s.method]);
const fileList = (items: Item[]): Array<[string, boolean]> => items.map((i) => [i.file, i.alpha]);

// ---------------------------------------------------------------- peak RSS (fresh processes)
// One process per pipeline so that no figure inherits another's heap.
async function childRss(): Promise<void> {
  const files = JSON.parse(process.env.THUMB_BENCH_FILES!) as Array<[string, boolean]>;
  const items = files.map(([file, alpha]) => ({
    name: file,
    file,
    alpha,
    data: readFileSync(file),
  }));
  const mode = process.env.THUMB_BENCH_CHILD;
  const thumbnailer = createThumbnailer({ concurrency: 1, maxQueue: 1 });
  const upload = (item: Item): Promise<unknown> =>
    mode === "ours"
      ? thumbnailer.generateAll(item.data)
      : Promise.all(SIZES.map((s) => bareSharp(item, s)));
  await upload(items[0]!); // steady state: libvips and allocator initialisation are not counted
  // Sampled growth (peakRssDuring), not maxRSS: Linux carries the parent's high-water mark across exec.
  const { peakMb } = await peakRssDuring(async () => {
    for (let i = 0; i < RSS_OPS; i++) await upload(items[i % items.length]!);
  });
  console.log(JSON.stringify({ peakMb }));
}

function nodeRss(mode: "ours" | "bare", items: Item[]): number {
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", import.meta.filename], {
    encoding: "utf8",
    env: {
      ...process.env,
      THUMB_BENCH_CHILD: mode,
      THUMB_BENCH_FILES: JSON.stringify(fileList(items)),
    },
  });
  if (r.status !== 0) throw new Error(`RSS child ${mode} failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { peakMb: number }).peakMb;
}

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "thumb-bench-"));
  let pillowServer: PillowServer | undefined;
  try {
    const t0 = performance.now();
    const sets = await corpus(dir);
    console.log(
      `corpus generated in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
        Object.entries(sets)
          .map(
            ([k, v]) =>
              `${v.length} ${k} (${(v.reduce((a, i) => a + i.data.length, 0) / v.length / 1e6).toFixed(2)} MB avg)`,
          )
          .join(", "),
    );
    console.log(
      `figures are thumbnails per CPU-second (all threads), best of ${ROUNDS} interleaved rounds of ${ROUND_MS} ms, one image at a time; wall-clock thumbnails/s in the notes`,
    );
    const { python, reason } = findPython();
    if (python) {
      const script = path.join(dir, "pillow_bench.py");
      writeFileSync(script, PILLOW_SCRIPT);
      pillowServer = startPillow(python, script);
    } else {
      console.log(`Pillow rows skipped: ${reason}`);
    }
    const thumbnailer = createThumbnailer({ sizes: SIZES, concurrency: 1, maxQueue: 1 });
    const n = SIZES.length;
    const labels: Record<string, string> = {
      jpeg: "12 MP JPEG",
      png: "1080p PNG",
      gif: "GIF 480x270x16, still",
      webp: "1080p WebP",
    };

    for (const [kind, items] of Object.entries(sets)) {
      const label = labels[kind]!;
      for (const [what, sizes] of [
        ["5-size upload", SIZES],
        ["1 thumbnail 320x240", [ON_DEMAND]],
      ] as const) {
        const full = sizes.length > 1;
        const oursOp = full
          ? (item: Item) => thumbnailer.generateAll(item.data)
          : (item: Item) => thumbnailer.generate(item.data, ON_DEMAND);
        const bareOp = (item: Item) => Promise.all(sizes.map((s) => bareSharp(item, s)));
        await oursOp(items[0]!);
        await bareOp(items[0]!);
        const figs: Record<string, Figure[]> = { ours: [], bare: [], synapse: [], draft: [] };
        for (let r = 0; r < ROUNDS; r++) {
          figs.ours!.push(await round(items, oursOp));
          figs.bare!.push(await round(items, bareOp));
          if (pillowServer) {
            for (const mode of ["synapse", "draft"] as const) {
              const f = await pillowServer.ask({
                files: fileList(items),
                sizes: sizeList(sizes),
                mode,
                ms: ROUND_MS,
                minOps: 1,
                warm: r === 0,
              });
              figs[mode]!.push({ wall: f.wall!, cpu: f.cpu! });
            }
          }
        }
        const k = sizes.length;
        const ours = best(figs.ours!);
        // Thumbnails per CPU-second (user + system time of every thread) is the headline: it
        // does not move when other processes share the cores, and it does not credit our
        // pipeline for encoding sizes in parallel on the second core. Wall-clock is in the note.
        const row = (baseline: Figure, baselineName: string, target?: number): void =>
          report({
            name: `${label}: ${what}, ours`,
            value: ours.cpu * k,
            baseline: baseline.cpu * k,
            baselineName,
            unit: "thumb/CPU-s",
            ...(target === undefined ? {} : { target }),
            note: `wall ${(ours.wall * k).toFixed(1)} vs ${(baseline.wall * k).toFixed(1)} thumb/s`,
          });
        row(
          best(figs.bare!),
          full ? "bare sharp, decode per size" : "bare sharp (overhead)",
          full ? undefined : 0.9,
        );
        if (pillowServer) {
          row(best(figs.synapse!), "Pillow Synapse-style", full ? 6 : 2.5);
          row(best(figs.draft!), "Pillow with draft()", full ? 1.3 : undefined);
        }
      }
    }

    // Animated output: Synapse has no equivalent (it thumbnails the first frame).
    const gifs = sets.gif!;
    const animOurs = (item: Item) => thumbnailer.generateAll(item.data, { animated: true });
    const animBare = (item: Item) =>
      Promise.all(
        SIZES.map((s) =>
          sharp(item.data, { animated: true })
            .resize(s.width, s.height, {
              fit: s.method === "crop" ? "cover" : "inside",
              withoutEnlargement: s.method === "scale",
            })
            .webp({ quality: 75, effort: 2 })
            .toBuffer(),
        ),
      );
    const a: Figure[] = [];
    const b: Figure[] = [];
    for (let r = 0; r < 2; r++) {
      a.push(await round(gifs, animOurs, 1));
      b.push(await round(gifs, animBare, 1));
    }
    report({
      name: "GIF 480x270x16: 5-size animated WebP, ours",
      value: best(a).cpu * n,
      baseline: best(b).cpu * n,
      baselineName: "bare sharp, decode per size",
      unit: "thumb/CPU-s",
      note: `wall ${(best(a).wall * n).toFixed(1)} vs ${(best(b).wall * n).toFixed(1)} thumb/s`,
    });

    // Peak RSS of a 12 MP JPEG 5-size upload, each pipeline in a fresh process.
    const jpegs = sets.jpeg!;
    const rssOurs = nodeRss("ours", jpegs);
    const rssBare = nodeRss("bare", jpegs);
    report({
      name: "12 MP JPEG 5-size upload: peak RSS, ours",
      value: rssOurs,
      baseline: rssBare,
      baselineName: "bare sharp, decode per size",
      unit: "MB",
      lowerIsBetter: true,
    });
    if (python) {
      for (const mode of ["synapse", "draft"] as const) {
        const fresh = startPillow(python, path.join(dir, "pillow_bench.py"));
        const r = await fresh.ask({
          files: fileList(jpegs),
          sizes: sizeList(SIZES),
          mode,
          rss: true,
          ops: RSS_OPS,
        });
        fresh.close();
        report({
          name: "12 MP JPEG 5-size upload: peak RSS, ours",
          value: rssOurs,
          baseline: r.peakMb!,
          baselineName: mode === "synapse" ? "Pillow Synapse-style" : "Pillow with draft()",
          unit: "MB",
          lowerIsBetter: true,
        });
      }
    }
  } finally {
    pillowServer?.close();
    rmSync(dir, { recursive: true, force: true });
    finish();
  }
}

if (process.env.THUMB_BENCH_CHILD) await childRss();
else await main();
