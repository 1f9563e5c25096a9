/**
 * Coordination between the processes of one deployment: locks with fencing generations and
 * wake-ups on topics. `memoryCoordinator()` serves a single process.
 *
 * @module
 */
export { memoryCoordinator } from "./memory.js";
export type { MemoryCoordinatorOptions } from "./memory.js";
export type { CoordinationLock, Coordinator } from "./types.js";
