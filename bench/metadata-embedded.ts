// Chooses the embedded metadata default by measurement: warm start (open an existing
// database directory and answer one query) and RSS added, for better-sqlite3 and PGlite.
// Each engine runs in a fresh child process so their memory never mixes.
// Run: node --expose-gc --import tsx bench/metadata-embedded.ts
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { finish, report } from "./lib.js";

type Engine = "sqlite" | "pglite";
interface Sample {
  startMs: number;
  rssAddedMb: number;
  peakRssAddedMb: number;
}

const SCHEMA =
  "CREATE TABLE IF NOT EXISTS media (origin TEXT NOT NULL, media_id TEXT NOT NULL, size BIGINT NOT NULL, PRIMARY KEY (origin, media_id))";

// The child: measure one open + migrate-if-needed + one query + one insert.
async function child(engine: Engine, dir: string): Promise<void> {
  globalThis.gc?.();
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  const t0 = performance.now();
  if (engine === "sqlite") {
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(path.join(dir, "metadata.sqlite3"));
    db.pragma("journal_mode = WAL");
    db.exec(SCHEMA);
    db.prepare("INSERT OR IGNORE INTO media VALUES (?, ?, ?)").run(
      "example.org",
      String(Date.now()),
      1,
    );
    db.prepare("SELECT count(*) AS n FROM media").get();
    const startMs = performance.now() - t0;
    finishChild(startMs, base, peak, timer);
    db.close();
  } else {
    const { PGlite } = await import("@electric-sql/pglite");
    const db = await PGlite.create(dir);
    await db.exec(SCHEMA);
    await db.query("INSERT INTO media VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [
      "example.org",
      String(Date.now()),
      1,
    ]);
    await db.query("SELECT count(*) AS n FROM media");
    const startMs = performance.now() - t0;
    finishChild(startMs, base, peak, timer);
    await db.close();
  }
}

function finishChild(startMs: number, base: number, peak: number, timer: NodeJS.Timeout): void {
  clearInterval(timer);
  const rss = process.memoryUsage.rss();
  const sample: Sample = {
    startMs,
    rssAddedMb: (rss - base) / 1e6,
    peakRssAddedMb: (Math.max(peak, rss) - base) / 1e6,
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function run(engine: Engine, dir: string): Sample {
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--child", engine, dir],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (r.status !== 0) throw new Error(`${engine} child failed: ${r.stderr}`);
  const line = r.stdout.trim().split("\n").at(-1)!;
  return JSON.parse(line) as Sample;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Measures both engines (fresh child processes) and reports warm start and RSS added. */
export async function measureEmbedded(): Promise<void> {
  const runs = Number(process.env.EMBEDDED_RUNS ?? 3);
  const results: Record<Engine, { first: Sample; warm: Sample[] }> = {} as never;
  for (const engine of ["sqlite", "pglite"] as const) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `mmk-embedded-${engine}-`));
    try {
      const first = run(engine, dir);
      const warm: Sample[] = [];
      for (let i = 0; i < runs; i++) warm.push(run(engine, dir));
      results[engine] = { first, warm };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const s = results.sqlite;
  const p = results.pglite;
  const pick = (x: { warm: Sample[] }, k: keyof Sample) => median(x.warm.map((w) => w[k]));
  report({
    name: "embedded warm start (sqlite)",
    value: pick(s, "startMs"),
    baseline: pick(p, "startMs"),
    baselineName: "PGlite warm start",
    unit: "ms",
    lowerIsBetter: true,
    note: `first init: sqlite ${s.first.startMs.toFixed(0)} ms, PGlite ${p.first.startMs.toFixed(0)} ms; target < 1000 ms`,
  });
  report({
    name: "embedded peak RSS added, warm (sqlite)",
    value: pick(s, "peakRssAddedMb"),
    baseline: pick(p, "peakRssAddedMb"),
    baselineName: "PGlite peak RSS added",
    unit: "MB",
    lowerIsBetter: true,
    note: `first init peak: sqlite ${s.first.peakRssAddedMb.toFixed(0)} MB, PGlite ${p.first.peakRssAddedMb.toFixed(0)} MB; target < 60 MB`,
  });
  report({
    name: "embedded RSS added after start, warm (sqlite)",
    value: pick(s, "rssAddedMb"),
    baseline: pick(p, "rssAddedMb"),
    baselineName: "PGlite RSS added after start",
    unit: "MB",
    lowerIsBetter: true,
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === "--child") {
    await child(process.argv[3] as Engine, process.argv[4]!);
  } else {
    await measureEmbedded();
    finish();
  }
}
