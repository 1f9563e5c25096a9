// Finds test/**/*.test.ts (or the files/folders given) and runs them with node's test runner.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith("--"));
const targets = args.filter((a) => !a.startsWith("--"));

function collect(p, out) {
  const s = statSync(p);
  if (s.isDirectory()) {
    for (const entry of readdirSync(p).sort()) {
      if (entry === "node_modules" || entry === "fixtures") continue;
      collect(path.join(p, entry), out);
    }
  } else if (/\.test\.(ts|mjs)$/.test(p)) out.push(p);
  return out;
}

const files = (targets.length > 0 ? targets : ["test"]).flatMap((t) =>
  collect(path.resolve(root, t), []),
);
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? "3";
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    `--test-concurrency=${concurrency}`,
    "--test-timeout=300000",
    ...flags,
    ...files,
  ],
  { stdio: "inherit", cwd: root },
);
process.exit(result.status ?? 1);
