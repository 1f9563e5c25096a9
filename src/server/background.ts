// The standalone's background work: a leader lease on the shared coordinator, and the jobs
// (expiry sweep, remote retention, orphan blob GC) that only the leader runs.
import type { Coordinator } from "../coordination/index.js";
import type { DatastoreRouter } from "../datastore/index.js";
import type { MediaRepository } from "../index.js";
import type { MetadataStore } from "../metadata/index.js";
import {
  collectOrphanBlobs,
  createBackgroundJobs,
  createLeaderElection,
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
    // Thumbnail records cannot be looked up by hash: a datastore holding thumbnails is skipped.
    const thumbs = datastore.forKind("thumbnail").id;
    const stores = datastore.all().filter((s) => s.id !== thumbs && !s.capabilities.readOnly);
    list.push({
      name: "orphanGc",
      intervalMs: jobs.orphanGc.intervalMs,
      run: async (signal) => {
        const total: Record<string, number> = { datastores: stores.length, deleted: 0 };
        for (const store of stores) {
          const c = await collectOrphanBlobs({
            datastore: store,
            metadata,
            graceMs: jobs.orphanGc.graceMs,
            signal,
          });
          total.deleted = (total.deleted ?? 0) + c.deleted;
        }
        return total;
      },
    });
  }
  return list;
}

/**
 * Starts competing for the leader lease and running the jobs on it; both stop at shutdown.
 * Does nothing when `background.enabled` is false or the process does not have the `background` role.
 * @internal
 */
export function startBackground(
  config: MediaServerConfig,
  parts: BackgroundParts,
  shutdown: ShutdownStack,
  logger: ServerLogger,
): void {
  if (!config.background.enabled || !config.roles.includes("background")) return;
  const leader = createLeaderElection({
    coordinator: parts.coordinator,
    ttlMs: config.background.leaseTtlMs,
    logger,
  });
  const jobs = createBackgroundJobs({ leader, jobs: serverJobs(config, parts), logger });
  shutdown.push(() => jobs.stop());
  shutdown.push(() => leader.stop());
  leader.start();
}
