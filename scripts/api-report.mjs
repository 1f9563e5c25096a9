// Runs api-extractor once per subpath of the package's `exports` map and compares each
// report with the committed one under etc/. `--local` rewrites the committed reports.
import { readFileSync } from "node:fs";
import path from "node:path";
import { Extractor, ExtractorConfig } from "@microsoft/api-extractor";

const root = path.resolve(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const base = ExtractorConfig.loadFile(path.join(root, "api-extractor.json"));
const local = process.argv.includes("--local");
const only = process.argv.slice(2).filter((a) => !a.startsWith("--"));

let failed = 0;
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target !== "object" || !target.types) continue;
  const name =
    subpath === "."
      ? "matrix-media-kit"
      : `matrix-media-kit-${subpath.slice(2).replaceAll("/", "-")}`;
  if (only.length > 0 && !only.includes(subpath)) continue;
  const config = ExtractorConfig.prepare({
    configObject: {
      ...base,
      mainEntryPointFilePath: path.join(root, target.types),
      apiReport: { ...base.apiReport, reportFileName: `${name}.api.md` },
    },
    configObjectFullPath: path.join(root, "api-extractor.json"),
    packageJsonFullPath: path.join(root, "package.json"),
  });
  const result = Extractor.invoke(config, { localBuild: local, showVerboseMessages: false });
  // Forgotten exports and TSDoc mistakes are warnings in the config; here they fail the check.
  if (result.warningCount > 0) {
    failed++;
    console.error(`${subpath}: ${result.warningCount} API warning(s) — fix them (see above)`);
  } else if (!result.succeeded) {
    failed++;
    console.error(
      `API report for ${subpath} differs from etc/${name}.api.md` +
        (local ? "" : " — run `npm run build && npm run api:update` and commit the report"),
    );
  }
}
if (failed > 0) process.exit(1);
console.log("API reports match");
