// What a rate-limit decision costs per request, loopback only:
// 1. The decision alone (the hook called directly), p50/p99 in µs: the in-process token bucket,
//    the Redis limiter's request rate and its leaky bucket of download bytes (one script each
//    on a redis-server of this run), against a hook that decides nothing.
// 2. A whole request (GET /config through the handler over a keep-alive HTTP connection),
//    p50/p99, with each limiter against the same handler without one, in interleaved rounds
//    (best round of each side counts). Limits are set high so nothing is refused: what is
//    measured is the cost of deciding.
// Run: npm run bench -- ratelimit
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { memoryCache } from "../src/cache/memory.js";
import { fsDatastore } from "../src/datastore/index.js";
import {
  createMediaHandler,
  createRedisRateLimiter,
  tokenBucketRateLimit,
  type MediaHandlerOptions,
  type RateLimitContext,
} from "../src/http/index.js";
import { createMediaIdGenerator } from "../src/ids/index.js";
import { memoryMetadataStore } from "../src/metadata/memory.js";
import { createMediaRepository } from "../src/repository/index.js";
import { startRedis } from "../test/harness/redis.js";
import { tempDir } from "../test/harness/tmp.js";
import { finish, percentile, report } from "./lib.js";

const DECISIONS = 20_000;
const REQUESTS = 2_000;
const ROUNDS = 5;
const HIGH = { ratePerSecond: 1e9, burst: 1_000_000_000 };

type Hook = (c: RateLimitContext) => unknown;

async function timeDecisions(hook: Hook): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < DECISIONS; i++) {
    const context = {
      route: "download" as const,
      user: { userId: `@u${i % 100}:bench` },
      ip: "127.0.0.1",
      req: {} as never,
    };
    const t = performance.now();
    await hook(context);
    times.push((performance.now() - t) * 1000);
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function serve(
  repoOptions: MediaHandlerOptions,
  repo: Parameters<typeof createMediaHandler>[0],
) {
  const handle = createMediaHandler(repo, repoOptions);
  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path: "/_matrix/client/v1/media/config",
        agent,
        headers: { Authorization: "Bearer t" },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function timeRequests(port: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    await get(port);
    times.push((performance.now() - t) * 1000);
  }
  return times;
}

async function main(): Promise<void> {
  const redisServer = await startRedis();
  const dir = await tempDir("mmk-bench-rl-");
  const redis = new Redis(redisServer.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await new Promise<void>((resolve) => redis.once("ready", () => resolve()));
  try {
    const inProcess = tokenBucketRateLimit(HIGH);
    const limiter = createRedisRateLimiter({
      redis,
      requests: HIGH,
      downloads: { capacityBytes: 1e15, drainBytesPerMinute: 1e12, overflowBytes: 0 },
    });
    const hooks: Array<[string, Hook]> = [
      ["in-process token bucket", inProcess],
      ["Redis request rate", limiter.rateLimit],
      ["Redis download-bytes bucket", (c) => limiter.downloadLimit(c, 16_384)],
    ];
    const none = await timeDecisions(() => undefined);
    for (const [name, hook] of hooks) {
      await timeDecisions(hook); // warm-up
      const d = await timeDecisions(hook);
      report({
        name: `decision: ${name} p50`,
        value: d.p50,
        baseline: none.p50,
        baselineName: "no limiter (empty hook)",
        unit: "µs",
        lowerIsBetter: true,
        note: `p99 ${d.p99.toFixed(1)} µs (no limiter p99 ${none.p99.toFixed(2)} µs)`,
      });
    }

    const repo = createMediaRepository({
      serverName: "bench.local",
      ids: createMediaIdGenerator({ machineId: 1 }),
      datastore: fsDatastore({ root: dir.path, fsync: false }),
      metadata: memoryMetadataStore(),
      cache: memoryCache({ maxBytes: 1024 * 1024 }),
    });
    const authenticate = async () => ({ userId: "@bench:bench.local" });
    const sides: Array<[string, MediaHandlerOptions]> = [
      ["none", { authenticate }],
      ["in-process", { authenticate, rateLimit: inProcess }],
      ["Redis", { authenticate, rateLimit: limiter.rateLimit }],
    ];
    const servers = await Promise.all(sides.map(([, o]) => serve(o, repo)));
    const best = sides.map(() => ({
      p50: Number.POSITIVE_INFINITY,
      p99: Number.POSITIVE_INFINITY,
    }));
    for (const s of servers) await timeRequests(s.port); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < servers.length; i++) {
        const times = await timeRequests(servers[i]!.port);
        best[i]!.p50 = Math.min(best[i]!.p50, percentile(times, 50));
        best[i]!.p99 = Math.min(best[i]!.p99, percentile(times, 99));
      }
    }
    for (let i = 1; i < sides.length; i++) {
      for (const p of ["p50", "p99"] as const) {
        report({
          name: `GET /config with the ${sides[i]![0]} limiter ${p}`,
          value: best[i]![p],
          baseline: best[0]![p],
          baselineName: "same handler, no limiter",
          unit: "µs",
          lowerIsBetter: true,
        });
      }
    }
    for (const s of servers) s.server.close();
    agent.destroy();
    await repo.close();
  } finally {
    redis.disconnect();
    await redisServer.close();
    await dir.cleanup();
  }
  finish();
}

await main();
