// Leader election and background jobs against a real redis-server: one leader among two
// processes, take-over after stop, loss on SIGSTOP, and jobs that run only on the leader.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import { memoryCoordinator, redisCoordinator } from "../../../src/coordination/index.js";
import type { SharedCoordinator } from "../../../src/coordination/index.js";
import {
  createBackgroundJobs,
  createLeaderElection,
  type BackgroundJobs,
  type LeaderElection,
} from "../../../src/scale/index.js";
import { eventually } from "../../../src/testing/eventually.js";
import { startRedis, type RedisProcess } from "../../harness/redis.js";

const ttlMs = 1500;
const quiet = { warn: () => {}, error: () => {} };

describe("leader election over Redis", () => {
  let server: RedisProcess;
  let namespace: string;
  const coordinators: SharedCoordinator[] = [];
  const elections: LeaderElection[] = [];
  const jobSets: BackgroundJobs[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);

  const election = () => {
    const coordinator = redisCoordinator({
      url: server.url,
      namespace,
      commandTimeoutMs: 100,
      logger: quiet,
    });
    coordinators.push(coordinator);
    const e = createLeaderElection({ coordinator, ttlMs, retryMs: 100, logger: quiet });
    elections.push(e);
    return e;
  };
  const leaders = () => elections.filter((e) => e.isLeader());

  beforeEach(async () => {
    server = await startRedis();
    namespace = `test:${randomUUID()}`;
  });
  afterEach(async () => {
    server.cont();
    await Promise.all(jobSets.splice(0).map((j) => j.stop()));
    await Promise.all(elections.splice(0).map((e) => e.stop()));
    await Promise.all(coordinators.splice(0).map((c) => c.close()));
    await server.close();
  });
  after(() => {
    process.off("unhandledRejection", onUnhandled);
    assert.deepEqual(unhandled, [], "no unhandled rejections");
  });

  it("elects exactly one of two; the other takes over within a TTL of the leader's stop", async () => {
    const a = election();
    const b = election();
    a.start();
    b.start();
    const first = await eventually("a leader", 10_000, async () => leaders()[0]);
    // Several retry periods pass: the other never becomes leader too.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(leaders().length, 1);
    const firstGeneration = first.generation!;
    const other = first === a ? b : a;
    assert.equal(other.generation, undefined);
    await first.stop();
    assert.equal(first.isLeader(), false);
    await eventually("the other takes over", ttlMs * 4, async () => other.isLeader() || undefined);
    assert.ok(other.generation! > firstGeneration);
  });

  it("SIGSTOP aborts the leader's job signal; after SIGCONT one leader with a higher generation", async () => {
    const a = election();
    const b = election();
    const runs = new Map<LeaderElection, number>();
    const seen: Array<{ election: LeaderElection; leaderThen: boolean }> = [];
    let aborted: AbortSignal | undefined;
    for (const e of [a, b]) {
      runs.set(e, 0);
      const jobs = createBackgroundJobs({
        leader: e,
        logger: quiet,
        jobs: [
          {
            name: "count",
            intervalMs: 50,
            run: async (signal) => {
              runs.set(e, runs.get(e)! + 1);
              seen.push({ election: e, leaderThen: e.isLeader() });
              aborted = signal;
              return { runs: runs.get(e)! };
            },
          },
        ],
      });
      jobSets.push(jobs);
      e.start();
    }
    const first = await eventually("a leader", 10_000, async () => leaders()[0]);
    await eventually("a job runs", 10_000, async () => (runs.get(first)! >= 3 ? true : undefined));
    const other = first === a ? b : a;
    assert.equal(runs.get(other), 0, "a job never runs on the non-leader");
    const signal = aborted!;
    const generation = first.generation!;

    server.stop();
    await eventually("the job's signal aborts", ttlMs * 3, async () => signal.aborted || undefined);
    assert.equal(first.isLeader(), false);
    server.cont();
    const next = await eventually("one leader again", ttlMs * 4 + 5_000, async () => leaders()[0]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(leaders().length, 1);
    assert.ok(next.generation! > generation, `${next.generation} > ${generation}`);
    assert.ok(
      seen.every((s) => s.leaderThen),
      "every run happened while its process led",
    );
  });
});

describe("background jobs", () => {
  it("never overlap themselves and stop when the leader stops", async () => {
    const leader = createLeaderElection({ coordinator: memoryCoordinator(), logger: quiet });
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const jobs = createBackgroundJobs({
      leader,
      logger: quiet,
      jobs: [
        {
          name: "slow",
          intervalMs: 1,
          run: async () => {
            active++;
            maxActive = Math.max(maxActive, active);
            runs++;
            await new Promise((resolve) => setTimeout(resolve, 20));
            active--;
          },
        },
      ],
    });
    leader.start();
    await eventually("five runs", 10_000, async () => (runs >= 5 ? true : undefined));
    await leader.stop();
    await jobs.stop();
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(maxActive, 1);
    assert.equal(runs, after, "no run after stop");
  });

  it("refuses a bad interval and a duplicate name", () => {
    const leader = createLeaderElection({ coordinator: memoryCoordinator() });
    const run = async () => undefined;
    assert.throws(
      () => createBackgroundJobs({ leader, jobs: [{ name: "x", intervalMs: 0, run }] }),
      /intervalMs must be a positive number, got 0/,
    );
    assert.throws(
      () =>
        createBackgroundJobs({
          leader,
          jobs: [
            { name: "x", intervalMs: 1, run },
            { name: "x", intervalMs: 1, run },
          ],
        }),
      /Duplicate job name "x"/,
    );
    assert.throws(
      () => createLeaderElection({ coordinator: memoryCoordinator(), ttlMs: -1 }),
      /ttlMs/,
    );
  });
});
