// Runs an ES module script in a fresh Node process at the project root, so it imports the
// built package through its `exports` map exactly as a user's code does; returns the JSON
// object the script printed last.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

export const projectRoot = path.resolve(import.meta.dirname, "../..");

export function runBuiltScript<T = any>(script: string, requiredFiles: readonly string[]): T {
  for (const file of requiredFiles) {
    assert.ok(
      existsSync(path.join(projectRoot, file)),
      `${file} is missing: run \`npm run build\` first`,
    );
  }
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: projectRoot,
    encoding: "utf8",
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split("\n").pop()!) as T;
}
