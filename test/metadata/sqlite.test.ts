// The embedded default: persistence across restarts, migrations raced by two real
// processes on one file, option validation.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { sqliteMetadataStore } from "../../src/metadata/sqlite.js";
import { tempDir } from "../harness/tmp.js";
import { startChild } from "./race.js";
import { ConfigError } from "../../src/errors.js";

const configError = (pattern: RegExp) => (err: unknown) =>
  err instanceof ConfigError && pattern.test(err.message);

let dir: { path: string; cleanup(): Promise<void> };
before(async () => {
  dir = await tempDir("mmk-sqlite-test-");
});
after(() => dir.cleanup());

const record = (mediaId: string) => ({
  origin: "example.org",
  mediaId,
  kind: "local" as const,
  contentType: "image/png",
  filename: "a.png",
  size: 42,
  sha256: "a".repeat(64),
  datastoreId: "fs",
  location: mediaId,
  uploader: "@u:example.org",
  createdAt: 1,
  lastAccessAt: 1,
  quarantined: false,
  protected: false,
});

describe("sqliteMetadataStore", () => {
  it("persists in a directory across restarts", async () => {
    const where = path.join(dir.path, "persist", "nested");
    const first = sqliteMetadataStore({ directory: where });
    assert.equal(first.path, path.join(where, "metadata.sqlite3"));
    assert.deepEqual(await first.migrate(), { applied: [1, 2], version: 2 });
    await first.insertMedia(record("kept"));
    await first.close();
    await first.close();
    assert.ok(existsSync(first.path));
    const second = sqliteMetadataStore({ path: first.path });
    assert.deepEqual(await second.migrate(), { applied: [], version: 2 });
    assert.deepEqual(await second.getMedia("example.org", "kept"), record("kept"));
    assert.deepEqual(await second.getUsage("@u:example.org"), { bytes: 42, count: 1 });
    await second.close();
    await assert.rejects(second.getMedia("example.org", "kept"), /closed/);
  });

  it("two processes migrating one file at once: exactly one applies, both then work", async () => {
    const where = path.join(dir.path, "race");
    const children = [0, 1].map(() => startChild(["sqlite", where]));
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const outcomes = await Promise.all(children.map((c) => c.outcome));
    assert.deepEqual(outcomes.map((o) => o.result.applied).sort(), [[], [1, 2]]);
    assert.ok(outcomes.every((o) => o.worked));
    const store = sqliteMetadataStore({ directory: where });
    for (const o of outcomes) assert.ok(await store.getMedia("example.org", o.mediaId));
    assert.deepEqual(await store.getUsage("@race:example.org"), { bytes: 10, count: 2 });
    await store.close();
  });

  it("runs migrations before the first operation when migrate() was not called", async () => {
    const store = sqliteMetadataStore({ path: ":memory:" });
    assert.deepEqual(await store.getUsage("@x:example.org"), { bytes: 0, count: 0 });
    assert.deepEqual(await store.migrate(), { applied: [1, 2], version: 2 });
    await store.close();
  });

  it("refuses a database newer than it knows", async () => {
    const file = path.join(dir.path, "future.sqlite3");
    const raw = new Database(file);
    raw.pragma("user_version = 99");
    raw.close();
    const store = sqliteMetadataStore({ path: file });
    await assert.rejects(
      store.migrate(),
      /schema version 99, newer than this matrix-media-kit knows/,
    );
    await store.close();
  });

  it("validates its options with messages naming the option", () => {
    assert.throws(
      () => sqliteMetadataStore({} as never),
      configError(/exactly one of options\.path or options\.directory/),
    );
    assert.throws(
      () => sqliteMetadataStore({ path: "a", directory: "b" } as never),
      configError(/exactly one of options\.path or options\.directory/),
    );
    assert.throws(() => sqliteMetadataStore({ path: "" }), configError(/options\.path/));
    assert.throws(
      () => sqliteMetadataStore({ path: ":memory:", busyTimeoutMs: -1 }),
      configError(/options\.busyTimeoutMs/),
    );
  });
});
