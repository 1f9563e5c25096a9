// The admin API's listing of a user's media on PostgreSQL: 10,000 records of one user among
// 20,000, a page of 100 at offset 5,000 (newest first, Synapse's default), measured
// 1. through the metadata store (`pageMediaByUploader`: the rows and the total),
// 2. through the HTTP handler (`GET /_synapse/admin/v1/users/{id}/media`, JSON on loopback),
// each against a raw `pg` query of the same rows and total in the same run; interleaved
// rounds, the best of each side counts. Then the users' media statistics over 100 users.
// Run: npm run bench -- admin
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fsDatastore } from "../src/datastore/index.js";
import { createMediaHandler } from "../src/http/index.js";
import { createMediaIdGenerator } from "../src/ids/index.js";
import { postgresMetadataStore } from "../src/metadata/index.js";
import type { MediaRecord } from "../src/metadata/types.js";
import { createMediaRepository } from "../src/repository/index.js";
import { createTestDatabase } from "../test/harness/postgres.js";
import { tempDir } from "../test/harness/tmp.js";
import { finish, opsPerSecond, report } from "./lib.js";

const SERVER = "bench.local";
const USER = "@alice:bench.local";
const RECORDS = 10_000;
const ROUNDS = 3;
const SCHEMA = "bench_admin";

function record(i: number, uploader: string): MediaRecord {
  return {
    origin: SERVER,
    mediaId: `m${i.toString(36).padStart(6, "0")}${uploader.length}`,
    kind: "local",
    contentType: i % 2 ? "image/png" : "text/plain",
    filename: `file${i}.png`,
    size: 1000 + (i % 977),
    sha256: (i % 16).toString(16).repeat(64),
    datastoreId: "fs",
    location: `k${i}`,
    uploader,
    createdAt: 1_700_000_000_000 + i * 1000,
    lastAccessAt: 1_700_000_000_000 + i * 1000,
    quarantined: false,
    protected: false,
  };
}

async function best(ours: () => Promise<unknown>, raw: () => Promise<unknown>) {
  let a = 0;
  let b = 0;
  for (let round = 0; round < ROUNDS; round++) {
    a = Math.max(a, await opsPerSecond(ours, 1500));
    b = Math.max(b, await opsPerSecond(raw, 1500));
  }
  return { ours: a, raw: b };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers: { Authorization: "Bearer admin" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

const db = await createTestDatabase();
const dir = await tempDir("mmk-bench-admin-");
try {
  const metadata = postgresMetadataStore({ pool: db.pool, schema: SCHEMA });
  await metadata.migrate();
  const others = Array.from({ length: 100 }, (_, i) => `@user${i}:bench.local`);
  for (let start = 0; start < 2 * RECORDS; start += 200) {
    await Promise.all(
      Array.from({ length: 200 }, (_, j) => {
        const i = start + j;
        return metadata.insertMedia(record(i, i < RECORDS ? USER : others[i % 100]!));
      }),
    );
  }
  await db.pool.query(`ANALYZE "${SCHEMA}".mmk_media`);
  const query = { offset: 5000, limit: 100, orderBy: "createdAt", direction: "desc" } as const;
  const rawPage = async () => {
    const rows = await db.pool.query(
      `SELECT origin, media_id, kind, content_type, filename, size, sha256, datastore_id, location,
              uploader, created_at, last_access_at, quarantined, protected
       FROM "${SCHEMA}".mmk_media WHERE uploader = $1
       ORDER BY created_at DESC, media_id ASC, origin ASC LIMIT 100 OFFSET 5000`,
      [USER],
    );
    const total = await db.pool.query(
      `SELECT count(*) AS n FROM "${SCHEMA}".mmk_media WHERE uploader = $1`,
      [USER],
    );
    if (rows.rows.length !== 100 || Number(total.rows[0].n) !== RECORDS) throw new Error("raw");
  };
  const storePage = async () => {
    const page = await metadata.pageMediaByUploader(USER, query);
    if (page.items.length !== 100 || page.total !== RECORDS) throw new Error("store");
  };
  const store = await best(storePage, rawPage);
  report({
    name: "list a user's media: page of 100 at 5,000 of 10k (store)",
    value: store.ours,
    baseline: store.raw,
    baselineName: "raw pg: same rows + count",
    unit: "ops/s",
    target: 0.8,
  });

  const repo = createMediaRepository({
    serverName: SERVER,
    ids: createMediaIdGenerator({ machineId: 1 }),
    datastore: fsDatastore({ root: path.join(dir.path, "media"), fsync: false }),
    metadata,
    limits: { touchIntervalMs: 0, sweepIntervalMs: 0 },
  });
  const handle = createMediaHandler(repo, {
    authenticate: async () => ({ userId: "@admin:bench.local", isAdmin: true }),
  });
  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/_synapse/admin/v1/users/${encodeURIComponent(USER)}/media?from=5000&limit=100`;
  const viaHttp = await best(async () => {
    const body = (await getJson(url)) as { media: unknown[]; total: number };
    if (body.media.length !== 100 || body.total !== RECORDS) throw new Error("http");
  }, rawPage);
  report({
    name: "list a user's media: page of 100 at 5,000 of 10k (HTTP)",
    value: viaHttp.ours,
    baseline: viaHttp.raw,
    baselineName: "raw pg: same rows + count",
    unit: "ops/s",
    target: 0.5,
    note: "includes auth, JSON and a loopback HTTP round trip",
  });

  const statistics = await best(
    async () => {
      const page = await metadata.getUserMediaStatistics({ orderBy: "bytes", direction: "desc" });
      if (page.total !== 101) throw new Error("statistics");
    },
    async () => {
      const { rows } = await db.pool.query(
        `SELECT uploader, count(*) AS n, sum(size) AS bytes, count(*) OVER () AS total
         FROM "${SCHEMA}".mmk_media WHERE kind = 'local' AND uploader IS NOT NULL
         GROUP BY uploader ORDER BY bytes DESC, uploader ASC LIMIT 100`,
      );
      if (Number(rows[0].total) !== 101) throw new Error("raw statistics");
    },
  );
  report({
    name: "users' media statistics: 101 users, 20k records (store)",
    value: statistics.ours,
    baseline: statistics.raw,
    baselineName: "raw pg: same GROUP BY",
    unit: "ops/s",
    target: 0.8,
  });
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await repo.close();
} finally {
  agent.destroy();
  await db.drop();
  await dir.cleanup();
}
finish();
