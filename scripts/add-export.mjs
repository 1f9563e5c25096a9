// Adds a subpath to package.json's exports map: node scripts/add-export.mjs ./cache cache/index
// Serialised with a lock file so parallel edits of package.json do not clobber each other.
import { readFileSync, writeFileSync, openSync, closeSync, unlinkSync } from "node:fs";
import path from "node:path";

const [subpath, file] = process.argv.slice(2);
if (!subpath?.startsWith("./") || !file) {
  console.error("usage: node scripts/add-export.mjs ./name dir/file (without extension)");
  process.exit(2);
}
const root = path.resolve(import.meta.dirname, "..");
const lock = path.join(root, ".package-json.lock");
const deadline = Date.now() + 10_000;
for (;;) {
  try {
    closeSync(openSync(lock, "wx"));
    break;
  } catch {
    if (Date.now() > deadline) throw new Error(`could not take ${lock}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
try {
  const pkgPath = path.join(root, "package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
  const entries = Object.entries(pkg.exports).filter(
    ([k]) => k !== subpath && k !== "./package.json",
  );
  entries.push([subpath, { types: `./dist/${file}.d.ts`, default: `./dist/${file}.js` }]);
  entries.sort(([a], [b]) => (a === "." ? -1 : b === "." ? 1 : a.localeCompare(b)));
  pkg.exports = Object.fromEntries([...entries, ["./package.json", "./package.json"]]);
  writeFileSync(pkgPath, JSON.stringify(pkg, null, 2) + "\n");
  console.log(`exports[${subpath}] -> dist/${file}.js`);
} finally {
  unlinkSync(lock);
}
