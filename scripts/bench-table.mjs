// Prints bench/results.json as Markdown tables (one per benchmark) for the README.
import { readFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const all = JSON.parse(readFileSync(path.join(root, "bench", "results.json"), "utf8"));
const fmt = (n) =>
  n === undefined || n === null
    ? "-"
    : Math.abs(n) >= 1000
      ? Math.round(n).toLocaleString("en-US")
      : Math.abs(n) >= 10
        ? n.toFixed(1)
        : n.toFixed(3);
console.log(
  `Measured ${all.generatedAt} on ${all.machine.node} ${all.machine.platform} (2 cores), \`npm run bench\`.\n`,
);
for (const [name, rows] of Object.entries(all)) {
  if (!Array.isArray(rows)) continue;
  console.log(`**${name}**\n`);
  console.log("| figure | ours | baseline (same run) | ratio | target |");
  console.log("|---|---|---|---|---|");
  for (const r of rows) {
    const base =
      r.baseline === undefined ? "-" : `${fmt(r.baseline)} ${r.unit} (${r.baselineName ?? ""})`;
    const target =
      r.target === undefined
        ? ""
        : `${r.target}× ${r.ratio !== undefined && r.ratio >= r.target ? "✓" : "✗"}`;
    const note = r.note ? ` — ${r.note}` : "";
    console.log(
      `| ${r.name}${note} | ${fmt(r.value)} ${r.unit} | ${base} | ${r.ratio === undefined || r.ratio === null ? "-" : `×${fmt(r.ratio)}`} | ${target} |`,
    );
  }
  console.log("");
}
