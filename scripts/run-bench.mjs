// Runs bench/*.bench.ts (or the names given), each in its own process so peak RSS figures
// do not leak between benchmarks, and merges their figures into bench/results.json.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const only = process.argv.slice(2);
const benches = readdirSync(path.join(root, "bench"))
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
const resultsPath = path.join(root, "bench", "results.json");
const all = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, "utf8")) : {};
let failed = 0;
for (const file of benches) {
  const name = file.replace(/\.bench\.ts$/, "");
  const out = path.join(root, "temp", `bench-${name}.json`);
  rmSync(out, { force: true });
  console.log(`\n## ${name}`);
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", path.join("bench", file)],
    {
      stdio: "inherit",
      cwd: root,
      env: { ...process.env, BENCH_OUT: out },
    },
  );
  if (r.status !== 0) {
    failed++;
    continue;
  }
  if (existsSync(out)) all[name] = JSON.parse(readFileSync(out, "utf8"));
}
all.generatedAt = new Date().toISOString();
all.machine = { node: process.version, platform: `${process.platform}-${process.arch}` };
writeFileSync(resultsPath, JSON.stringify(all, null, 2) + "\n");
console.log(`\nwrote ${path.relative(root, resultsPath)}`);
if (failed > 0) process.exit(1);
