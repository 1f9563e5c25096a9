// Metadata stores: getMedia lookups/s and insertMedia/s with p99, on PostgreSQL and on the
// embedded default (SQLite), each next to the raw driver running the same statement in the
// same run; then the embedded-engine choice (warm start, RSS) against PGlite.
// Run: node --expose-gc --import tsx bench/metadata.bench.ts
import { createHash, randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { postgresMetadataStore } from "../src/metadata/index.js";
import { sqliteMetadataStore } from "../src/metadata/sqlite.js";
import type { MediaRecord, MetadataStore } from "../src/metadata/types.js";
import { createTestDatabase } from "../test/harness/postgres.js";
import { tempDir } from "../test/harness/tmp.js";
import { finish, percentile, report } from "./lib.js";
import { measureEmbedded } from "./metadata-embedded.js";

const DURATION_MS = Number(process.env.BENCH_MS ?? 2000);
const PRELOAD = 5000;
const PG_CONCURRENCY = 16;

let n = 0;
function record(): MediaRecord {
  const mediaId = `b${(n++).toString(36)}${randomBytes(6).toString("hex")}`;
  return {
    origin: "example.org",
    mediaId,
    kind: "local",
    contentType: "image/png",
    filename: "cat.png",
    size: 1000 + (n % 5000),
    sha256: createHash("sha256").update(mediaId).digest("hex"),
    datastoreId: "fs",
    location: `local/${mediaId}`,
    uploader: `@user${n % 100}:example.org`,
    createdAt: Date.now(),
    lastAccessAt: Date.now(),
    quarantined: false,
    protected: false,
  };
}

/** Runs `op` from `concurrency` loops for DURATION_MS; ops/s and latency percentiles (ms). */
async function measure(
  concurrency: number,
  op: () => unknown,
): Promise<{ opsPerSec: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + DURATION_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await op();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = performance.now() - start;
  return {
    opsPerSec: (latencies.length * 1000) / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]!;
const fmt = (x: number): string => x.toFixed(3);

async function preload(store: MetadataStore): Promise<MediaRecord[]> {
  const records = Array.from({ length: PRELOAD }, record);
  for (let i = 0; i < records.length; i += 100) {
    await Promise.all(records.slice(i, i + 100).map((r) => store.insertMedia(r)));
  }
  return records;
}

async function benchPostgres(): Promise<void> {
  const db = await createTestDatabase();
  db.pool.on("error", () => {});
  try {
    const store = postgresMetadataStore({ pool: db.pool });
    await store.migrate();
    const records = await preload(store);

    const raw = `SELECT origin, media_id, kind, content_type, filename, size, sha256, datastore_id, location, uploader, created_at, last_access_at, quarantined, protected FROM mmk_media WHERE origin = $1 AND media_id = $2`;
    const base = await measure(PG_CONCURRENCY, () => {
      const r = pick(records);
      return db.pool.query({ name: "raw_get", text: raw, values: [r.origin, r.mediaId] });
    });
    const ours = await measure(PG_CONCURRENCY, () => {
      const r = pick(records);
      return store.getMedia(r.origin, r.mediaId);
    });
    report({
      name: `postgres getMedia (${PG_CONCURRENCY} concurrent)`,
      value: ours.opsPerSec,
      baseline: base.opsPerSec,
      baselineName: "raw pg prepared SELECT",
      unit: "ops/s",
      target: 0.8,
      note: `p50 ${fmt(ours.p50)} ms, p99 ${fmt(ours.p99)} ms (raw p99 ${fmt(base.p99)} ms)`,
    });

    await db.pool.query(
      "CREATE TABLE raw_media (LIKE mmk_media INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)",
    );
    const rawInsert = `INSERT INTO raw_media (origin, media_id, kind, content_type, filename, size, sha256, datastore_id, location, uploader, created_at, last_access_at, quarantined, protected) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`;
    const baseIns = await measure(PG_CONCURRENCY, () => {
      const r = record();
      return db.pool.query({
        name: "raw_insert",
        text: rawInsert,
        values: [
          r.origin,
          r.mediaId,
          r.kind,
          r.contentType,
          r.filename,
          r.size,
          r.sha256,
          r.datastoreId,
          r.location,
          r.uploader,
          r.createdAt,
          r.lastAccessAt,
          r.quarantined,
          r.protected,
        ],
      });
    });
    const oursIns = await measure(PG_CONCURRENCY, () => store.insertMedia(record()));
    report({
      name: `postgres insertMedia + usage (${PG_CONCURRENCY} concurrent)`,
      value: oursIns.opsPerSec,
      baseline: baseIns.opsPerSec,
      baselineName: "raw INSERT, no usage counter",
      unit: "ops/s",
      target: 0.7,
      note: `p50 ${fmt(oursIns.p50)} ms, p99 ${fmt(oursIns.p99)} ms (raw p99 ${fmt(baseIns.p99)} ms)`,
    });
  } finally {
    await db.drop();
  }
}

async function benchSqlite(): Promise<void> {
  const dir = await tempDir("mmk-bench-sqlite-");
  try {
    const store = sqliteMetadataStore({ directory: dir.path });
    await store.migrate();
    const records = await preload(store);
    // A second handle on the same file is the raw-driver baseline.
    const raw = new Database(store.path);
    raw.pragma("journal_mode = WAL");
    raw.pragma("synchronous = NORMAL");
    const get = raw.prepare(
      "SELECT origin, media_id, kind, content_type, filename, size, sha256, datastore_id, location, uploader, created_at, last_access_at, quarantined, protected FROM mmk_media WHERE origin = ? AND media_id = ?",
    );
    const base = await measure(1, () => {
      const r = pick(records);
      return get.get(r.origin, r.mediaId);
    });
    const ours = await measure(1, () => {
      const r = pick(records);
      return store.getMedia(r.origin, r.mediaId);
    });
    report({
      name: "sqlite getMedia",
      value: ours.opsPerSec,
      baseline: base.opsPerSec,
      baselineName: "raw better-sqlite3 .get()",
      unit: "ops/s",
      target: 0.5,
      note: `p50 ${fmt(ours.p50)} ms, p99 ${fmt(ours.p99)} ms (raw p99 ${fmt(base.p99)} ms)`,
    });

    raw.exec("CREATE TABLE raw_media AS SELECT * FROM mmk_media WHERE 0");
    raw.exec("CREATE UNIQUE INDEX raw_media_pk ON raw_media (origin, media_id)");
    const ins = raw.prepare(
      "INSERT INTO raw_media VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    const baseIns = await measure(1, () => {
      const r = record();
      return ins.run(
        r.origin,
        r.mediaId,
        r.kind,
        r.contentType,
        r.filename,
        r.size,
        r.sha256,
        r.datastoreId,
        r.location,
        r.uploader,
        r.createdAt,
        r.lastAccessAt,
        0,
        0,
      );
    });
    const oursIns = await measure(1, () => store.insertMedia(record()));
    report({
      name: "sqlite insertMedia + usage",
      value: oursIns.opsPerSec,
      baseline: baseIns.opsPerSec,
      baselineName: "raw INSERT, no usage counter",
      unit: "ops/s",
      target: 0.5,
      note: `p50 ${fmt(oursIns.p50)} ms, p99 ${fmt(oursIns.p99)} ms (raw p99 ${fmt(baseIns.p99)} ms)`,
    });
    raw.close();
    await store.close();
  } finally {
    await dir.cleanup();
  }
}

await benchPostgres();
await benchSqlite();
await measureEmbedded();
finish();
