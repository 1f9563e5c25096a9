// A leader lease on a coordinator lock: at most one process of a deployment runs the
// background jobs, and it stops them as soon as its lease may be lost.
import { channel } from "node:diagnostics_channel";
import type { CoordinationLock, Coordinator } from "../coordination/types.js";
import { ConfigError } from "../errors.js";

const leaderChannel = channel("matrix-media-kit:scale:leader");

/** What the scale module logs through (the repository's and the server's loggers fit). */
export interface ScaleLogger {
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
}

/** A change of leadership, as given to `onChange`, `watch` and the diagnostics channel. */
export interface LeaderChange {
  /** The lock name competed for. */
  name: string;
  leader: boolean;
  /** The lease's fencing generation while leader. */
  generation: number | undefined;
  /** Why leadership ended: `lost` (the lock's signal aborted) or `stopped`. */
  reason?: "lost" | "stopped";
}

/** Options of {@link createLeaderElection}. */
export interface LeaderElectionOptions {
  /** Shared by every process that competes. */
  coordinator: Coordinator;
  /** The lock name. @defaultValue "mmk:leader" */
  name?: string;
  /** The lease TTL; the coordinator renews it every `ttlMs / 3`. @defaultValue 15000 */
  ttlMs?: number;
  /** How often a process that is not leader tries again. @defaultValue `ttlMs / 3` */
  retryMs?: number;
  /**
   * Accept a lock held only in this process (`lock.local`). A shared coordinator hands one out
   * while its backend is down, and two processes would then both lead.
   * @defaultValue `true` for a coordinator of kind `memory`, else `false`
   */
  acceptLocal?: boolean;
  logger?: ScaleLogger;
  /** Called on every change of leadership. */
  onChange?: (change: LeaderChange) => void;
}

/** A running election: see {@link createLeaderElection}. */
export interface LeaderElection {
  readonly name: string;
  isLeader(): boolean;
  /** The fencing generation of the current lease; `undefined` when not leader. */
  readonly generation: number | undefined;
  /** Aborts when this term of leadership ends; `undefined` when not leader. */
  readonly signal: AbortSignal | undefined;
  /** Starts competing (again after `stop()` is not supported). */
  start(): void;
  /** Stops competing, ends a term (its signal aborts) and releases the lease. */
  stop(): Promise<void>;
  /** Calls `listener` on every change; returns what unsubscribes it. */
  watch(listener: (change: LeaderChange) => void): () => void;
}

interface Term {
  lock: CoordinationLock;
  controller: AbortController;
}

function positive(value: number | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${option} must be a positive number of ms, got ${String(value)}`, {
      option,
    });
  }
  return value;
}

/**
 * Competes for a leader lease on `coordinator`: every `retryMs` while not leader it tries
 * `tryLock(name, ttlMs)`; once elected it leads until the lock's `signal` aborts (the shared
 * coordinators abort it before the lock can expire in the backend, so a frozen leader stops
 * before another can be elected) or until `stop()`. Changes are logged, given to `onChange`
 * and published on `matrix-media-kit:scale:leader`.
 *
 * @example
 * ```ts
 * import { redisCoordinator } from "matrix-media-kit/coordination";
 * import { createLeaderElection } from "matrix-media-kit/scale";
 *
 * const leader = createLeaderElection({ coordinator: redisCoordinator({ url: "redis://127.0.0.1" }) });
 * leader.start();
 * // ... leader.isLeader(), leader.signal ...
 * await leader.stop();
 * ```
 */
export function createLeaderElection(options: LeaderElectionOptions): LeaderElection {
  const { coordinator, logger } = options;
  const name = options.name ?? "mmk:leader";
  const ttlMs = positive(options.ttlMs, "ttlMs", 15_000);
  const retryMs = positive(options.retryMs, "retryMs", ttlMs / 3);
  const acceptLocal = options.acceptLocal ?? coordinator.kind === "memory";
  const listeners = new Set<(change: LeaderChange) => void>();
  if (options.onChange) listeners.add(options.onChange);
  let term: Term | undefined;
  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let attempt: Promise<void> | undefined;
  let warnedLocal = false;

  const emit = (change: LeaderChange): void => {
    if (change.leader) logger?.info?.("elected leader", { ...change });
    else logger?.info?.("no longer leader", { ...change });
    if (leaderChannel.hasSubscribers) leaderChannel.publish(change);
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (error) {
        logger?.warn("a leadership listener threw", { error, name });
      }
    }
  };

  const schedule = (ms: number): void => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      attempt = compete().finally(() => (attempt = undefined));
    }, ms);
    timer.unref();
  };

  const end = (current: Term, reason: "lost" | "stopped"): void => {
    if (term !== current) return;
    term = undefined;
    current.controller.abort(new Error(`leadership of ${name} ${reason}`));
    emit({ name, leader: false, generation: undefined, reason });
  };

  async function compete(): Promise<void> {
    let lock: CoordinationLock | undefined;
    try {
      lock = await coordinator.tryLock(name, ttlMs);
    } catch (error) {
      logger?.warn("could not compete for leadership", { error, name });
    }
    if (lock?.local && !acceptLocal) {
      if (!warnedLocal) logger?.warn("coordinator unreachable: not leading", { name });
      warnedLocal = true;
      await lock.release();
      lock = undefined;
    }
    if (stopped || !lock || lock.signal.aborted) {
      await lock?.release();
      schedule(retryMs);
      return;
    }
    warnedLocal = false;
    const current: Term = { lock, controller: new AbortController() };
    term = current;
    lock.signal.addEventListener(
      "abort",
      () => {
        end(current, "lost");
        void lock.release();
        schedule(0);
      },
      { once: true },
    );
    emit({ name, leader: true, generation: lock.generation });
  }

  return {
    name,
    isLeader: () => term !== undefined && !term.lock.signal.aborted,
    get generation() {
      return term?.lock.generation;
    },
    get signal() {
      return term?.controller.signal;
    },
    start() {
      if (started) return;
      started = true;
      schedule(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await attempt;
      const current = term;
      if (!current) return;
      end(current, "stopped");
      await current.lock.release();
    },
    watch(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
