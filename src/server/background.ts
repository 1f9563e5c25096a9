// The standalone's background work: a leader lease on the shared coordinator, and the jobs
// (expiry sweep, remote and local retention, orphan blob GC) that only the leader runs.
import type { Coordinator } from "../coordination/index.js";
import type { DatastoreRouter } from "../datastore/index.js";
import type { MediaRepository } from "../index.js";
import type { MetadataStore } from "../metadata/index.js";
import {
  collectOrphanBlobs,
  createBackgroundJobs,
  createLeaderElection,
  purgeLocalMedia,
  purgeRemoteMedia,
  type BackgroundJob,
} from "../scale/index.js";
import type { MediaServerConfig } from "./config-types.js";
import type { ServerLogger } from "./logger.js";
import type { ShutdownStack } from "./shutdown.js";

const DAY = 24 * 60 * 60 * 1000;

/** The parts the jobs work on. @internal */
export interface BackgroundParts {
  coordinator: Coordinator;
  repository: MediaRepository;
  metadata: MetadataStore;
  datastore: DatastoreRouter;
}

function serverJobs(config: MediaServerConfig, parts: BackgroundParts): BackgroundJob[] {
  const { jobs } = config.background;
  const { repository, metadata, datastore } = parts;
  const list: BackgroundJob[] = [
    {
      name: "sweepExpired",
      intervalMs: jobs.sweepExpired.intervalMs,
      run: async () => repository.sweepExpired(),
    },
  ];
  const maxAgeDays = jobs.remoteRetention.maxAgeDays;
  if (maxAgeDays !== undefined) {
    list.push({
      name: "remoteRetention",
      intervalMs: jobs.remoteRetention.intervalMs,
      run: async () => purgeRemoteMedia({ repository, maxAgeMs: maxAgeDays * DAY }),
    });
  }
  if (jobs.orphanGc.enabled) {
    list.push({
      name: "orphanGc",
      intervalMs: jobs.orphanGc.intervalMs,
      run: async (signal) => {
        // Asked per run: a reload may flip a datastore's readOnly flag. Thumbnail blobs are
        // kept by their records (getThumbnailsBySha256), so every writable datastore is walked.
        const stores = datastore.all().filter((s) => !s.capabilities.readOnly);
        const total: Record<string, number> = { datastores: stores.length, deleted: 0 };
        for (const store of stores) {
          const c = await collectOrphanBlobs({
            datastore: store,
            metadata,
            graceMs: jobs.orphanGc.graceMs,
            batchSize: jobs.orphanGc.batchSize,
            signal,
          });
          total.deleted = (total.deleted ?? 0) + c.deleted;
        }
        return total;
      },
    });
  }
  const local = jobs.localRetention;
  if (local.enabled) {
    list.push({
      name: "localRetention",
      intervalMs: local.intervalMs,
      run: async (signal) =>
        purgeLocalMedia({
          repository,
          metadata,
          maxAgeMs: local.maxAgeMs,
          batchSize: local.batchSize,
          signal,
        }),
    });
  }
  return list;
}

/**
 * The leader lease and its jobs, which a config reload may start, stop or restart. @internal
 */
export interface ServerBackground {
  /** True while this process competes for the lease. */
  readonly active: boolean;
  /**
   * Puts `config` in force: a process gaining the `background` role (or `background.enabled`)
   * starts competing; one losing it stops its jobs and releases the lease; changed job
   * settings restart the jobs under a new election.
   */
  apply(config: MediaServerConfig): Promise<void>;
  stop(): Promise<void>;
}

const isActive = (config: MediaServerConfig) =>
  config.background.enabled && config.roles.includes("background");

/**
 * Competes for the leader lease and runs the jobs on it while `config` gives this process
 * the `background` role (and `background.enabled`); both stop at shutdown.
 * @internal
 */
export function startBackground(
  config: MediaServerConfig,
  parts: BackgroundParts,
  shutdown: ShutdownStack,
  logger: ServerLogger,
): ServerBackground {
  let running: { stop(): Promise<void> } | undefined;
  let inForce: MediaServerConfig | undefined;
  let queue: Promise<void> = Promise.resolve();
  const start = (next: MediaServerConfig) => {
    const leader = createLeaderElection({
      coordinator: parts.coordinator,
      ttlMs: next.background.leaseTtlMs,
      logger,
    });
    const jobs = createBackgroundJobs({ leader, jobs: serverJobs(next, parts), logger });
    leader.start();
    return {
      // The jobs' signal aborts when the term ends; then the lease is released.
      stop: async () => {
        await Promise.all([jobs.stop(), leader.stop()]);
      },
    };
  };
  const applyNow = async (next: MediaServerConfig) => {
    const same = inForce && JSON.stringify(inForce.background) === JSON.stringify(next.background);
    if (isActive(next) && running && same) return;
    if (running) {
      await running.stop();
      running = undefined;
      logger.info("background work stopped", { reason: isActive(next) ? "restart" : "role" });
    }
    inForce = next;
    if (isActive(next)) running = start(next);
  };
  const background: ServerBackground = {
    get active() {
      return running !== undefined;
    },
    apply(next) {
      const run = queue.then(() => applyNow(next));
      queue = run.catch(() => undefined);
      return run;
    },
    async stop() {
      await queue;
      await running?.stop();
      running = undefined;
    },
  };
  shutdown.push(() => background.stop());
  if (isActive(config)) {
    inForce = config;
    running = start(config);
  }
  return background;
}
