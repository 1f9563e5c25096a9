// Background jobs that run only on the leader, each on its own interval, never overlapping
// itself, and aborted as soon as leadership is lost.
import { channel } from "node:diagnostics_channel";
import { ConfigError } from "../errors.js";
import type { LeaderChange, LeaderElection, ScaleLogger } from "./leader.js";

const jobChannel = channel("matrix-media-kit:scale:job");

/** What a job's run reports: counts of what it did (deleted, scanned, …). */
export type JobCounts = Record<string, number>;

/** One background job. */
export interface BackgroundJob {
  /** Names the job in logs and events. */
  name: string;
  /** Time between the end of one run and the start of the next. */
  intervalMs: number;
  /**
   * Does one run. `signal` aborts when leadership is lost (stop destructive work then);
   * `generation` is the leader's fencing token.
   */
  run(signal: AbortSignal, context: { generation: number }): Promise<JobCounts | void>;
}

/** One finished run, as logged and published on `matrix-media-kit:scale:job`. */
export interface JobRun {
  name: string;
  ms: number;
  outcome: "ok" | "aborted" | "failed";
  counts: JobCounts;
  generation: number;
  error?: unknown;
}

/** Options of {@link createBackgroundJobs}. */
export interface BackgroundJobsOptions {
  leader: LeaderElection;
  jobs: readonly BackgroundJob[];
  logger?: ScaleLogger;
}

/** Started with {@link createBackgroundJobs}. */
export interface BackgroundJobs {
  /** Stops scheduling and waits for running jobs (their signal aborts when the leader stops). */
  stop(): Promise<void>;
}

/**
 * Runs `jobs` while `leader` leads: each job first runs when leadership is won, then
 * `intervalMs` after its previous run ended, with the term's signal. Losing leadership
 * clears every timer and aborts the runs in progress. Each run is logged and published
 * (`{ name, ms, outcome, counts, generation }`). Start the election separately.
 *
 * @example
 * ```ts
 * import { createBackgroundJobs, createLeaderElection } from "matrix-media-kit/scale";
 * import { memoryCoordinator } from "matrix-media-kit/coordination";
 *
 * const leader = createLeaderElection({ coordinator: memoryCoordinator() });
 * const jobs = createBackgroundJobs({
 *   leader,
 *   jobs: [{ name: "hello", intervalMs: 60_000, run: async () => ({ said: 1 }) }],
 * });
 * leader.start();
 * // at shutdown:
 * await leader.stop();
 * await jobs.stop();
 * ```
 */
export function createBackgroundJobs(options: BackgroundJobsOptions): BackgroundJobs {
  const { leader, logger } = options;
  const names = new Set<string>();
  for (const job of options.jobs) {
    if (names.has(job.name)) {
      throw new ConfigError(`Duplicate job name ${JSON.stringify(job.name)}`, { option: "jobs" });
    }
    names.add(job.name);
    if (!Number.isFinite(job.intervalMs) || job.intervalMs <= 0) {
      throw new ConfigError(
        `jobs "${job.name}".intervalMs must be a positive number, got ${String(job.intervalMs)}`,
        { option: "intervalMs" },
      );
    }
  }
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopped = false;

  const runOnce = async (job: BackgroundJob, signal: AbortSignal, generation: number) => {
    const started = performance.now();
    let run: JobRun;
    try {
      const counts = (await job.run(signal, { generation })) ?? {};
      const outcome = signal.aborted ? "aborted" : "ok";
      run = { name: job.name, ms: performance.now() - started, outcome, counts, generation };
    } catch (error) {
      const outcome = signal.aborted ? "aborted" : "failed";
      run = { name: job.name, ms: performance.now() - started, outcome, counts: {}, generation };
      run.error = error;
    }
    if (run.outcome === "failed") logger?.warn("background job failed", { ...run });
    else logger?.info?.("background job ran", { ...run });
    if (jobChannel.hasSubscribers) jobChannel.publish(run);
  };

  const plan = (job: BackgroundJob, signal: AbortSignal, generation: number, ms: number) => {
    if (stopped || signal.aborted) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopped || signal.aborted || !leader.isLeader()) return;
      const work = runOnce(job, signal, generation);
      running.add(work);
      void work.finally(() => {
        running.delete(work);
        plan(job, signal, generation, job.intervalMs);
      });
    }, ms);
    timer.unref();
    timers.add(timer);
  };

  const clear = () => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  };

  const onChange = (change: LeaderChange) => {
    clear();
    const signal = leader.signal;
    if (!change.leader || change.generation === undefined || !signal) return;
    for (const job of options.jobs) plan(job, signal, change.generation, 0);
  };
  const unwatch = leader.watch(onChange);
  if (leader.isLeader() && leader.generation !== undefined) {
    onChange({ name: leader.name, leader: true, generation: leader.generation });
  }

  return {
    async stop() {
      stopped = true;
      unwatch();
      clear();
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}
