// `background`: the leader lease and the jobs only the leader runs.
import { readBool, readInt, readObject, refuseUnknownKeys } from "./config-values.js";

const DAY = 24 * 60 * 60 * 1000;

/**
 * `background`: one process of the deployment (the holder of a lease on the coordinator)
 * sweeps expired rows, purges old remote media (and, when enabled, old local media) and
 * collects orphan blobs.
 *
 * @example
 * ```yaml
 * background:
 *   leaseTtlMs: 15000
 *   jobs:
 *     remoteRetention: { maxAgeDays: 30 }
 *     orphanGc: { graceMs: 3600000, intervalMs: 86400000 }
 *     localRetention: { enabled: true, maxAgeMs: 31536000000, batchSize: 500 }
 * ```
 */
export interface BackgroundConfig {
  /** @defaultValue true */
  enabled: boolean;
  /** @defaultValue 15000 */
  leaseTtlMs: number;
  jobs: {
    /** Expired pending uploads and preview rows. @defaultValue every 600000 ms */
    sweepExpired: { intervalMs: number };
    /** Off unless `maxAgeDays` is set. @defaultValue every 3600000 ms */
    remoteRetention: { maxAgeDays?: number; intervalMs: number };
    /**
     * Every writable datastore, thumbnails included; at most `batchSize` blobs deleted per
     * datastore and run. @defaultValue 1 h grace, every 24 h, 10000 per run
     */
    orphanGc: { enabled: boolean; graceMs: number; intervalMs: number; batchSize: number };
    /**
     * Local media not downloaded for `maxAgeMs` is deleted, `batchSize` per run (protected
     * media is kept). @defaultValue off; 365 days, every 3600000 ms, 100 per run
     */
    localRetention: { enabled: boolean; maxAgeMs: number; intervalMs: number; batchSize: number };
  };
}

/** @internal */
export function resolveBackground(raw: unknown): BackgroundConfig {
  const b = readObject(raw, "background");
  refuseUnknownKeys(b, ["enabled", "leaseTtlMs", "jobs"], "background");
  const jobs = readObject(b.jobs, "background.jobs");
  refuseUnknownKeys(
    jobs,
    ["sweepExpired", "remoteRetention", "orphanGc", "localRetention"],
    "background.jobs",
  );
  const sweep = readObject(jobs.sweepExpired, "background.jobs.sweepExpired");
  const remote = readObject(jobs.remoteRetention, "background.jobs.remoteRetention");
  const gc = readObject(jobs.orphanGc, "background.jobs.orphanGc");
  const local = readObject(jobs.localRetention, "background.jobs.localRetention");
  refuseUnknownKeys(
    local,
    ["enabled", "maxAgeMs", "intervalMs", "batchSize"],
    "background.jobs.localRetention",
  );
  const key = (job: string, name: string) => `background.jobs.${job}.${name}`;
  return {
    enabled: readBool(b.enabled, "background.enabled", true),
    leaseTtlMs: readInt(b.leaseTtlMs, "background.leaseTtlMs", 15_000, 100),
    jobs: {
      sweepExpired: {
        intervalMs: readInt(sweep.intervalMs, key("sweepExpired", "intervalMs"), 600_000, 1),
      },
      remoteRetention: {
        ...(remote.maxAgeDays !== undefined && {
          maxAgeDays: readInt(remote.maxAgeDays, key("remoteRetention", "maxAgeDays"), 30, 1),
        }),
        intervalMs: readInt(remote.intervalMs, key("remoteRetention", "intervalMs"), 3_600_000, 1),
      },
      orphanGc: {
        enabled: readBool(gc.enabled, key("orphanGc", "enabled"), true),
        graceMs: readInt(gc.graceMs, key("orphanGc", "graceMs"), 3_600_000, 60_000),
        intervalMs: readInt(gc.intervalMs, key("orphanGc", "intervalMs"), DAY, 1),
        batchSize: readInt(gc.batchSize, key("orphanGc", "batchSize"), 10_000, 1),
      },
      localRetention: {
        enabled: readBool(local.enabled, key("localRetention", "enabled"), false),
        maxAgeMs: readInt(local.maxAgeMs, key("localRetention", "maxAgeMs"), 365 * DAY, 60_000),
        intervalMs: readInt(local.intervalMs, key("localRetention", "intervalMs"), 3_600_000, 1),
        batchSize: readInt(local.batchSize, key("localRetention", "batchSize"), 100, 1, 1000),
      },
    },
  };
}
