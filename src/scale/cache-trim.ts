// The periodic size check of a cachedDatastore's local copy, as a background job.
import type { CachedDatastore } from "../datastore/cached.js";
import { ConfigError } from "../errors.js";
import type { BackgroundJob } from "./jobs.js";

/** Options of {@link cacheTrimJob}. */
export interface CacheTrimJobOptions {
  /** @defaultValue "cacheTrim" */
  name?: string;
  /** @defaultValue 600000 (10 min) */
  intervalMs?: number;
  /** Copies deleted per run at most; the rest go on the next run. @defaultValue 1000 */
  batchSize?: number;
}

/** Defaults of {@link CacheTrimJobOptions}. */
export const DEFAULT_CACHE_TRIM_JOB = Object.freeze({
  name: "cacheTrim",
  intervalMs: 10 * 60 * 1000,
  batchSize: 1000,
});

/**
 * A {@link BackgroundJob} that keeps a {@link CachedDatastore}'s local copy to its byte bound
 * (`store.trim()`): reads evict inline already, so the job is the periodic enforcement for
 * copies written or deleted behind the cache's back (another process sharing the directory,
 * an operator), and its run reports the copy's size (`bytes`) in the job's log line and
 * `matrix-media-kit:scale:job` message. The local copy belongs to one machine: run the job
 * where the directory is (with a leader per machine, e.g. on a `memoryCoordinator`).
 *
 * @example
 * ```ts
 * import { cacheTrimJob, createBackgroundJobs, createLeaderElection } from "matrix-media-kit/scale";
 * import { memoryCoordinator } from "matrix-media-kit/coordination";
 * const leader = createLeaderElection({ coordinator: memoryCoordinator() });
 * createBackgroundJobs({ leader, jobs: [cacheTrimJob(cachedStore, { intervalMs: 60_000 })] });
 * leader.start();
 * ```
 */
export function cacheTrimJob(
  store: Pick<CachedDatastore, "trim" | "id">,
  options: CacheTrimJobOptions = {},
): BackgroundJob {
  const batchSize = options.batchSize ?? DEFAULT_CACHE_TRIM_JOB.batchSize;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new ConfigError(
      `Expected a positive integer for batchSize but received ${String(batchSize)}`,
      { option: "batchSize" },
    );
  }
  return {
    name: options.name ?? DEFAULT_CACHE_TRIM_JOB.name,
    intervalMs: options.intervalMs ?? DEFAULT_CACHE_TRIM_JOB.intervalMs,
    run: async (signal) => store.trim({ limit: batchSize, signal }),
  };
}
