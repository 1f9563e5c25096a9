// One process's coordinator: locks and wake-ups in memory. The default when a deployment has a
// single process, and the fallback the shared coordinators use while their backend is down.
import type { CoordinationLock, Coordinator } from "./types.js";

interface Held {
  token: symbol;
  generation: number;
  controller: AbortController;
  timer: NodeJS.Timeout;
}

/** Options of {@link memoryCoordinator}. */
export interface MemoryCoordinatorOptions {
  /** Name used in logs and metrics. @defaultValue "memory" */
  kind?: string;
}

/**
 * A {@link Coordinator} for one process: `tryLock` refuses a name this process already holds,
 * `notify` wakes the waiters of this process only. Locks expire after their TTL unless
 * released (there is no renewal to miss: the holder is this process).
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
  const locks = new Map<string, Held>();
  const waiters = new Map<string, Set<() => void>>();
  const generations = new Map<string, number>();

  function drop(name: string, held: Held, reason?: Error): void {
    if (locks.get(name) !== held) return;
    locks.delete(name);
    clearTimeout(held.timer);
    if (reason) held.controller.abort(reason);
  }

  return {
    kind: options.kind ?? "memory",
    async tryLock(name, ttlMs) {
      if (locks.has(name)) return undefined;
      const generation = (generations.get(name) ?? 0) + 1;
      generations.set(name, generation);
      const controller = new AbortController();
      const held: Held = {
        token: Symbol(name),
        generation,
        controller,
        timer: setTimeout(() => drop(name, held, new Error(`Lock ${name} expired`)), ttlMs),
      };
      held.timer.unref();
      locks.set(name, held);
      const lock: CoordinationLock = {
        name,
        generation,
        signal: controller.signal,
        release: async () => drop(name, held),
      };
      return lock;
    },
    wait(topic, timeoutMs, signal) {
      return new Promise<void>((resolve, reject) => {
        signal?.throwIfAborted();
        const set = waiters.get(topic) ?? new Set();
        waiters.set(topic, set);
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          set.delete(done);
          if (set.size === 0 && waiters.get(topic) === set) waiters.delete(topic);
        };
        const wake = (): void => {
          done();
          resolve();
        };
        const onAbort = (): void => {
          done();
          reject(signal?.reason as Error);
        };
        const timer = setTimeout(wake, timeoutMs);
        timer.unref();
        signal?.addEventListener("abort", onAbort, { once: true });
        set.add(wake);
      });
    },
    async notify(topic) {
      for (const wake of [...(waiters.get(topic) ?? [])]) wake();
    },
    async close() {
      for (const [name, held] of [...locks]) drop(name, held);
    },
  };
}
