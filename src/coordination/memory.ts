// One process's coordinator: locks and wake-ups in memory. The default when a deployment has a
// single process, and the fallback the shared coordinators use while their backend is down.
import type { CoordinationLock, Coordinator } from "./types.js";
import { checkName, checkTtl, createWaiters } from "./waiters.js";

/** Options of {@link memoryCoordinator}. */
export interface MemoryCoordinatorOptions {
  /** Name used in logs and metrics. @defaultValue "memory" */
  kind?: string;
}

/**
 * A {@link Coordinator} for one process: `tryLock` refuses a name this process already holds,
 * `notify` wakes the waiters of this process only.
 *
 * A lock is held until `release()` or `close()`: its holder is this very process, alive by
 * definition, so the TTL (checked, as every driver does) never runs out under it, exactly as
 * a shared coordinator keeps renewing a live holder's lock. Generations come from one counter
 * for all names, so they grow per name and no per-name state outlives a lock.
 * Every lock has `local: true`.
 *
 * @example
 * ```ts
 * import { memoryCoordinator } from "matrix-media-kit/coordination";
 * const coordinator = memoryCoordinator();
 * const lock = await coordinator.tryLock("remote:example.org/abc", 30_000);
 * if (lock) {
 *   try {
 *     // ... fetch the media once for every process ...
 *   } finally {
 *     await lock.release();
 *     await coordinator.notify("remote:example.org/abc");
 *   }
 * } else {
 *   await coordinator.wait("remote:example.org/abc", 20_000);
 * }
 * ```
 */
export function memoryCoordinator(options: MemoryCoordinatorOptions = {}): Coordinator {
  const locks = new Map<string, symbol>();
  const waiters = createWaiters();
  let generation = 0;

  return {
    kind: options.kind ?? "memory",
    async tryLock(name, ttlMs) {
      checkName(name, "name");
      checkTtl(ttlMs);
      if (locks.has(name)) return undefined;
      const token = Symbol(name);
      locks.set(name, token);
      const lock: CoordinationLock = {
        name,
        generation: ++generation,
        // Never aborts: a holder in this process cannot lose the lock to another process.
        signal: new AbortController().signal,
        local: true,
        release: async () => {
          if (locks.get(name) === token) locks.delete(name);
        },
      };
      return lock;
    },
    wait: (topic, timeoutMs, signal) => waiters.wait(topic, timeoutMs, signal),
    async notify(topic) {
      checkName(topic, "topic");
      waiters.wake(topic);
    },
    async close() {
      locks.clear();
      waiters.wakeAll();
    },
  };
}
