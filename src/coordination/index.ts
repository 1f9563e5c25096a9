/**
 * Coordination between the processes of one deployment: locks with fencing generations and
 * wake-ups on topics. `memoryCoordinator()` serves a single process; `redisCoordinator()` and
 * `postgresCoordinator()` are shared by every process (they load ioredis or pg on first use,
 * never at import).
 *
 * @module
 */
export { memoryCoordinator } from "./memory.js";
export type { MemoryCoordinatorOptions } from "./memory.js";
export { redisCoordinator, DEFAULT_REDIS_COORDINATOR_OPTIONS } from "./redis.js";
export type { RedisCoordinatorOptions } from "./redis.js";
export { postgresCoordinator, DEFAULT_POSTGRES_COORDINATOR_OPTIONS } from "./postgres.js";
export type { PostgresCoordinatorOptions } from "./postgres.js";
export {
  encodeEnvelope,
  encodeInvalidation,
  decodeEnvelope,
  decodeMessage,
  ENVELOPE_VERSION,
} from "./envelope.js";
export type { CoordinationEnvelope, InvalidationEnvelope, WakeEnvelope } from "./envelope.js";
export { LOSS_MARGIN_RATIO } from "./lock.js";
export type { SharedCoordinator } from "./shared.js";
export type { CoordinationLogger, SharedCoordinatorOptions } from "./options.js";
export type { CoordinationLock, Coordinator } from "./types.js";
export type {
  PgClientLike,
  PgPoolLike,
  PgQueryConfig,
  PgQueryResult,
} from "../metadata/postgres/client.js";
