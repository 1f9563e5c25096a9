/**
 * Scaling out: a leader lease on a coordinator, background jobs that run only on the leader,
 * and the job bodies (orphan blob collection, remote media retention).
 *
 * @module
 */
export { createLeaderElection } from "./leader.js";
export type { LeaderChange, LeaderElection, LeaderElectionOptions, ScaleLogger } from "./leader.js";
export { createBackgroundJobs } from "./jobs.js";
export type {
  BackgroundJob,
  BackgroundJobs,
  BackgroundJobsOptions,
  JobCounts,
  JobRun,
} from "./jobs.js";
export {
  collectOrphanBlobs,
  purgeLocalMedia,
  purgeRemoteMedia,
  DEFAULT_ORPHAN_GRACE_MS,
} from "./gc.js";
export type {
  CollectOrphanBlobsOptions,
  OrphanBlobCounts,
  PurgeLocalMediaOptions,
  PurgeRemoteMediaOptions,
} from "./gc.js";
export { cacheTrimJob, DEFAULT_CACHE_TRIM_JOB } from "./cache-trim.js";
export type { CacheTrimJobOptions } from "./cache-trim.js";
export type {
  CachedDatastore,
  CachedDatastoreStats,
  CachedDatastoreTrim,
} from "../datastore/cached.js";
// The types the jobs name (repository, stores, coordinator), as the root entry exports them.
export type * from "../index.js";
