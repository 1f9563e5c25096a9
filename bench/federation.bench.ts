// Remote media over federation, loopback only. The "remote server" (bench/federation-peer.ts)
// is a node:https server on 127.0.0.3 in a child process (one core each on a 2-core box) with
// a throwaway CA. Measured:
// 1. Downloads of 1 MiB and 50 MiB remote media through the full path (repository lookup miss,
//    createFederation's client: discovery, SSRF guard, signing, multipart; ingest into an fs
//    datastore; metadata; then the stored body read back) against a raw signed undici request
//    parsed with readFederationMultipart and streamed into a file (and read back), same run,
//    best of 5 interleaved rounds; a fresh media ID every iteration, so every one is a fetch.
// 2. Peak RSS growth during a 1 GiB remote fetch through the full path.
// 3. 100 concurrent requests for one remote media across 3 repositories sharing one Redis
//    coordinator, one PostgreSQL metadata store and one fs directory: requests the remote
//    received, and latency, against the same burst on a single repository.
// Run: npm run bench -- federation (this and federation-keys; `federation.` selects this one).
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { Agent, request } from "undici";
import { redisCoordinator } from "../src/coordination/index.js";
import { fsDatastore } from "../src/datastore/index.js";
import {
  createFederation,
  generateSigningKey,
  readFederationMultipart,
  signRequest,
  type Federation,
} from "../src/federation/index.js";
import { createMediaIdGenerator } from "../src/ids/index.js";
import { postgresMetadataStore } from "../src/metadata/index.js";
import { memoryMetadataStore } from "../src/metadata/memory.js";
import type { MetadataStore } from "../src/metadata/types.js";
import {
  createMediaRepository,
  type MediaRepository,
  type RemoteMediaOptions,
} from "../src/repository/index.js";
import { createTestDatabase } from "../test/harness/postgres.js";
import { startRedis } from "../test/harness/redis.js";
import { tempDir } from "../test/harness/tmp.js";
import { PEER_IP, peerMediaId, startPeer, type Peer } from "./federation-peer.js";
import { finish, peakRssDuring, percentile, report } from "./lib.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const SERVER = "bench.local";
const FETCH_TIMEOUT_MS = 60_000;
const BURST = 100;
// Interleaved throughput rounds; the best of each side counts (bursts of outside load).
const ROUNDS = 5;
const key = generateSigningKey("bench");
let counter = 0;

function federationFor(peer: Peer): Federation {
  return createFederation({
    serverName: SERVER,
    signingKey: key,
    client: {
      allowRanges: [`${PEER_IP}/32`],
      tls: { ca: peer.ca },
      timeoutMs: FETCH_TIMEOUT_MS,
      maxBytes: 2 * GiB,
    },
  });
}

function repositoryFor(
  root: string,
  metadata: MetadataStore,
  machineId: number,
  remote: RemoteMediaOptions,
): MediaRepository {
  return createMediaRepository({
    serverName: SERVER,
    ids: createMediaIdGenerator({ machineId }),
    // fsync off, as the baseline's plain file write does not sync either.
    datastore: fsDatastore({ root, fsync: false }),
    metadata,
    limits: { maxUploadBytes: 2 * GiB, touchIntervalMs: 0, sweepIntervalMs: 0 },
    remote: { maxBytes: 2 * GiB, timeoutMs: FETCH_TIMEOUT_MS, ...remote },
  });
}

/** Reads a body to its end; throws unless it has `size` bytes. */
async function consume(
  body: { buffer?: Buffer; stream?: Readable | NodeJS.ReadableStream },
  size: number,
): Promise<void> {
  let n = body.buffer?.length ?? 0;
  if (body.stream) for await (const chunk of body.stream) n += (chunk as Buffer).length;
  if (n !== size) throw new Error(`read ${n} bytes, expected ${size}`);
}

/** Every file under `dir`. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

interface Timed {
  ms: number;
  /** Process CPU (user + system, every thread) while `work` ran, µs. */
  cpuUs: number;
}

async function timed(work: () => Promise<void>): Promise<Timed> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - start, cpuUs: used.user + used.system };
}

/**
 * Runs `op` one after another for about `ms`: MB/s over the timed work, and this process's
 * CPU ms per MB (less sensitive to other load on the machine than wall time).
 */
async function rate(
  op: () => Promise<Timed>,
  size: number,
  ms: number,
): Promise<{ mbps: number; cpuPerMb: number }> {
  const end = performance.now() + ms;
  let wall = 0;
  let cpuUs = 0;
  let n = 0;
  while (n < 3 || performance.now() < end) {
    const t = await op();
    wall += t.ms;
    cpuUs += t.cpuUs;
    n++;
  }
  const mb = (n * size) / 1e6;
  return { mbps: mb / (wall / 1000), cpuPerMb: cpuUs / 1000 / mb };
}

async function throughput(peer: Peer, dir: string): Promise<void> {
  const federation = federationFor(peer);
  const root = path.join(dir, "media");
  const repo = repositoryFor(root, memoryMetadataStore(), 1, { source: federation.mediaSource });
  const rawDir = path.join(dir, "raw");
  await mkdir(rawDir, { recursive: true });
  const agent = new Agent({ connect: { ca: peer.ca } });

  // Ours: lookup miss -> federation fetch -> ingest -> record; then the stored body, read.
  const ours = async (size: number): Promise<Timed> => {
    const mediaId = peerMediaId(size, counter++);
    const t = await timed(async () => {
      const { body } = await repo.download(peer.serverName, mediaId);
      await consume(body, size);
    });
    await repo.delete(peer.serverName, mediaId);
    return t;
  };
  // The baseline: one signed request, the multipart read, the bytes streamed into a file
  // (optionally hashed, as the content-addressed store must), the file read back.
  const raw = async (size: number, hash: boolean): Promise<Timed> => {
    const mediaId = peerMediaId(size, counter++);
    const uri = `/_matrix/federation/v1/media/download/${mediaId}`;
    const file = path.join(rawDir, mediaId);
    const t = await timed(async () => {
      const authorization = signRequest(key, {
        method: "GET",
        uri,
        origin: SERVER,
        destination: peer.serverName,
      });
      const res = await request(`${peer.baseUrl}${uri}`, {
        dispatcher: agent,
        headers: { authorization },
      });
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      const contentType = res.headers["content-type"];
      const { part } = await readFederationMultipart(res.body, String(contentType));
      const stream = part.stream!;
      const sha = hash ? createHash("sha256") : undefined;
      if (sha) stream.on("data", (chunk: Buffer) => sha.update(chunk));
      await pipeline(stream, createWriteStream(file));
      sha?.digest("hex");
      await consume({ stream: createReadStream(file) }, size);
    });
    await rm(file);
    return t;
  };

  try {
    // The 1 GiB fetch first, after one small fetch has loaded the code and opened the
    // connection: later the heap left by the 50 MiB rounds shrinks during it and hides growth.
    await ours(MiB);
    await memory(peer, repo, root);
    for (const [label, size, ms] of [
      ["1 MiB", MiB, 700],
      ["50 MiB", 50 * MiB, 1800],
    ] as const) {
      for (let i = 0; i < 2; i++) {
        await ours(size);
        await raw(size, false);
        await raw(size, true);
      }
      const best = { ours: [0, Infinity], raw: [0, Infinity], hashed: [0, Infinity] };
      const keep = (side: keyof typeof best, r: { mbps: number; cpuPerMb: number }) => {
        best[side] = [Math.max(best[side][0]!, r.mbps), Math.min(best[side][1]!, r.cpuPerMb)];
      };
      for (let round = 0; round < ROUNDS; round++) {
        keep("ours", await rate(() => ours(size), size, ms));
        keep("raw", await rate(() => raw(size, false), size, ms));
        keep("hashed", await rate(() => raw(size, true), size, ms));
      }
      report({
        name: `remote download ${label} (fetch, store, read back)`,
        value: best.ours[0]!,
        baseline: best.raw[0]!,
        baselineName: "undici + multipart -> file",
        unit: "MB/s",
        target: 0.8,
        note: "no sha256 in this baseline: see the next row",
      });
      report({
        name: `remote download ${label}, vs a hashing baseline`,
        value: best.ours[0]!,
        baseline: best.hashed[0]!,
        baselineName: "... + sha256",
        unit: "MB/s",
      });
      report({
        name: `remote download ${label}: CPU of this process`,
        value: best.ours[1]!,
        baseline: best.raw[1]!,
        baselineName: "undici + multipart -> file",
        unit: "ms/MB",
        lowerIsBetter: true,
        note: `with sha256: ${best.hashed[1]!.toFixed(2)} ms/MB`,
      });
    }
  } finally {
    await repo.close();
    await federation.close();
    await agent.close();
  }
}

async function memory(peer: Peer, repo: MediaRepository, root: string): Promise<void> {
  const mediaId = peerMediaId(GiB, counter++);
  const before = (await filesUnder(root)).length;
  const { result: ms, peakMb } = await peakRssDuring(async () => {
    const start = performance.now();
    const { body } = await repo.download(peer.serverName, mediaId);
    await consume(body, GiB);
    return performance.now() - start;
  }, 20);
  await repo.delete(peer.serverName, mediaId);
  const left = (await filesUnder(root)).length;
  if (left !== before) throw new Error(`the 1 GiB blob was not deleted (${left} files)`);
  report({
    name: "peak RSS growth during a 1 GiB remote fetch + read",
    value: peakMb,
    baseline: 150,
    baselineName: "budget",
    unit: "MB",
    lowerIsBetter: true,
    target: 1,
    note: `${Math.round(GiB / 1e6 / (ms / 1000))} MB/s`,
  });
}

async function fetchOnce(peer: Peer, dir: string): Promise<void> {
  const redis = await startRedis();
  const db = await createTestDatabase();
  const root = path.join(dir, "shared");
  // Three "processes": each its own pool, coordinator connection and federation client.
  const pools = [0, 1, 2].map(() => {
    const pool = new pg.Pool({ connectionString: db.url, max: 5 });
    pool.on("error", () => undefined);
    return pool;
  });
  const stores = pools.map((pool) => postgresMetadataStore({ pool }));
  await stores[0]!.migrate();
  const coordinators = pools.map(() =>
    redisCoordinator({ url: redis.url, namespace: "mmk-bench" }),
  );
  const federations = pools.map(() => federationFor(peer));
  const repos = stores.map((metadata, i) =>
    repositoryFor(root, metadata, 10 + i, {
      source: federations[i]!.mediaSource,
      coordinator: coordinators[i]!,
    }),
  );
  const size = MiB;
  const burst = async (targets: MediaRepository[]): Promise<{ ms: number[]; id: string }> => {
    const id = peerMediaId(size, counter++);
    const ms = await Promise.all(
      Array.from({ length: BURST }, async (_, i) => {
        const start = performance.now();
        const { body } = await targets[i % targets.length]!.download(peer.serverName, id);
        await consume(body, size);
        return performance.now() - start;
      }),
    );
    return { ms, id };
  };
  try {
    // Warm-up: connections to the peer, PostgreSQL and Redis of every instance.
    for (const repo of repos) await burst([repo]);
    await burst(repos);
    const single: number[] = [];
    const shared: number[] = [];
    const singleIds: string[] = [];
    const sharedIds: string[] = [];
    for (let round = 0; round < 5; round++) {
      const a = await burst([repos[0]!]);
      single.push(...a.ms);
      singleIds.push(a.id);
      const b = await burst(repos);
      shared.push(...b.ms);
      sharedIds.push(b.id);
    }
    const { counts } = await peer.stats();
    const most = (ids: string[]) => Math.max(...ids.map((id) => counts[id] ?? 0));
    const sum = (ids: string[]) => ids.reduce((n, id) => n + (counts[id] ?? 0), 0);
    report({
      name: `${BURST} concurrent, 3 instances + Redis: remote requests`,
      value: most(sharedIds),
      baseline: 1,
      baselineName: "required: once",
      unit: "req",
      lowerIsBetter: true,
      target: 1,
      note: `most per media over 5 bursts; ${sum(sharedIds)} in total`,
    });
    report({
      name: `${BURST} concurrent, single instance: remote requests`,
      value: most(singleIds),
      baseline: 1,
      baselineName: "required: once",
      unit: "req",
      lowerIsBetter: true,
      target: 1,
      note: `most per media over 5 bursts; ${sum(singleIds)} in total`,
    });
    for (const p of [50, 99]) {
      report({
        name: `${BURST} concurrent 1 MiB, 3 instances + Redis: p${p}`,
        value: percentile(shared, p),
        baseline: percentile(single, p),
        baselineName: "single instance",
        unit: "ms",
        lowerIsBetter: true,
        note: "5 bursts, lookup to last byte",
      });
    }
  } finally {
    for (const repo of repos) await repo.close();
    for (const c of coordinators) await c.close();
    for (const f of federations) await f.close();
    for (const pool of pools) await pool.end();
    await db.drop();
    await redis.close();
  }
}

async function main(): Promise<void> {
  const peer = await startPeer();
  const dir = await tempDir("mmk-bench-fed-");
  try {
    await throughput(peer, dir.path);
    await fetchOnce(peer, dir.path);
  } finally {
    await peer.close();
    await dir.cleanup();
  }
  finish();
}

await main();
