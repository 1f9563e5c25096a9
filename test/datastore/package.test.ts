// Imports the built package through its exports map, the way a user would.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

const root = path.join(import.meta.dirname, "..", "..");
const built = existsSync(path.join(root, "dist", "datastore", "index.js"));
const skip = built ? false : "dist/ is not built (npm run build)";

describe("built package", () => {
  it("exports matrix-media-kit/datastore", { skip }, async () => {
    const specifier = "matrix-media-kit/datastore";
    const mod = (await import(specifier)) as Record<string, unknown>;
    for (const name of [
      "fsDatastore",
      "s3Datastore",
      "routeByKind",
      "migrateDatastore",
      "cachedDatastore",
    ]) {
      assert.equal(typeof mod[name], "function", name);
    }
  });

  it("ships the matrix-media-kit CLI", { skip }, () => {
    const r = spawnSync(
      process.execPath,
      [path.join(root, "dist", "cli", "index.js"), "migrate", "--help"],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: matrix-media-kit migrate --from STORE --to STORE/);
  });
});
