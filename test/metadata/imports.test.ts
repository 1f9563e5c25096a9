// `matrix-media-kit/metadata` must load neither `pg` nor the native SQLite addon: the pool
// is injected, and SQLite lives in its own subpath.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";

const root = path.resolve(import.meta.dirname, "../..");

function loadedAfterImporting(entry: string): string[] {
  const script = `
    import { createRequire } from "node:module";
    await import(${JSON.stringify(path.join(root, entry))});
    const require = createRequire(import.meta.url);
    console.log(JSON.stringify(Object.keys(require.cache)));
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as string[];
}

const has = (files: string[], pkg: string): boolean =>
  files.some((f) => f.includes(`${path.sep}node_modules${path.sep}${pkg}${path.sep}`));

describe("metadata entry points", () => {
  it("matrix-media-kit/metadata loads neither pg nor better-sqlite3", () => {
    const files = loadedAfterImporting("src/metadata/index.ts");
    assert.equal(has(files, "pg"), false);
    assert.equal(has(files, "better-sqlite3"), false);
  });

  it("matrix-media-kit/metadata/sqlite loads better-sqlite3 (so the check above can fail)", () => {
    const files = loadedAfterImporting("src/metadata/sqlite.ts");
    assert.equal(has(files, "better-sqlite3"), true);
    assert.equal(has(files, "pg"), false);
  });
});
