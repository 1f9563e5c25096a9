// Shared helpers for bench/*.bench.ts: every figure is printed next to a baseline measured
// in the same run, as a ratio, and collected into BENCH_OUT for bench/results.json.
import { writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";

export interface BenchRow {
  /** What was measured, e.g. "fs put 64 MiB". */
  name: string;
  /** Our figure. */
  value: number;
  /** The same-run baseline figure (raw library, plain node...). */
  baseline?: number;
  /** Unit of value and baseline, e.g. "MB/s", "ops/s", "ms". */
  unit: string;
  /** What the baseline is, e.g. "raw fs + sha256". */
  baselineName?: string;
  /** true when lower is better (latency, memory): the ratio is then baseline / value. */
  lowerIsBetter?: boolean;
  /** The target ratio from the issue, e.g. 0.9. */
  target?: number;
  /** Free text, e.g. p99 or peak RSS. */
  note?: string;
}

const rows: BenchRow[] = [];

export function ratio(row: BenchRow): number | undefined {
  if (row.baseline === undefined || row.baseline === 0 || row.value === 0) return undefined;
  return row.lowerIsBetter ? row.baseline / row.value : row.value / row.baseline;
}

function fmt(n: number | undefined): string {
  if (n === undefined) return "-";
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** Records and prints one figure. */
export function report(row: BenchRow): void {
  rows.push(row);
  const r = ratio(row);
  const verdict =
    row.target === undefined || r === undefined ? "" : r >= row.target ? " ok" : " BELOW TARGET";
  console.log(
    `${row.name.padEnd(48)} ${fmt(row.value).padStart(12)} ${row.unit.padEnd(8)}` +
      ` | ${(row.baselineName ?? "").padEnd(28)} ${fmt(row.baseline).padStart(12)}` +
      ` | x${fmt(r).padStart(7)}${row.target === undefined ? "" : ` (target ${row.target}x)`}${verdict}` +
      (row.note ? `  ${row.note}` : ""),
  );
}

/** Writes the rows recorded so far to BENCH_OUT (set by scripts/run-bench.mjs). */
export function finish(): void {
  const out = process.env.BENCH_OUT;
  if (!out) return;
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      rows.map((r) => ({ ...r, ratio: ratio(r) })),
      null,
      2,
    ),
  );
}

/** Runs `fn` repeatedly for about `ms` milliseconds and returns operations per second. */
export async function opsPerSecond(fn: () => unknown, ms = 1000): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    await fn();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

/** Percentile of a list of numbers (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Samples RSS every `intervalMs` (5) while `fn` runs; returns the peak growth in MB. */
export async function peakRssDuring<T>(
  fn: () => Promise<T>,
  intervalMs = 5,
): Promise<{ result: T; peakMb: number }> {
  globalThis.gc?.();
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, intervalMs);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakMb: (peak - base) / 1e6 };
  } finally {
    clearInterval(timer);
  }
}
