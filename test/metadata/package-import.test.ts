// The built package, imported the way a user does: through the `exports` map.
// Needs `npm run build` first (npm test does it).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

const built = existsSync(path.resolve(import.meta.dirname, "../../dist/metadata/sqlite.js"));
const skip = built ? false : "dist/ is missing: run `npm run build` first (npm test does)";

describe("matrix-media-kit/metadata through the exports map", () => {
  it("exposes the stores and they work", { skip }, async () => {
    const metadata = await import("matrix-media-kit/metadata");
    const sqlite = await import("matrix-media-kit/metadata/sqlite");
    assert.equal(typeof metadata.memoryMetadataStore, "function");
    assert.equal(typeof metadata.postgresMetadataStore, "function");
    assert.equal(metadata.DEFAULT_METADATA_LIMITS.maxLimit, 1000);
    assert.equal("sqliteMetadataStore" in metadata, false, "SQLite lives in its own subpath");
    for (const store of [
      metadata.memoryMetadataStore(),
      sqlite.sqliteMetadataStore({ path: ":memory:" }),
    ]) {
      await store.migrate?.();
      await store.createPending({
        origin: "example.org",
        mediaId: "pkg",
        creator: "@a:example.org",
        createdAt: 1,
        expiresAt: 10,
      });
      assert.equal((await store.getPending("example.org", "pkg"))?.creator, "@a:example.org");
      await store.close();
    }
  });
});
