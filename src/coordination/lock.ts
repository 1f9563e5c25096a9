// A lock held in a shared backend: renewed every ttl/3, and given up locally BEFORE the
// backend could hand it to someone else. The deadline counts from when the last successful
// renewal was SENT (the backend's TTL started no earlier), minus a safety margin for timers
// that fire late and clocks that run at slightly different rates.
import { MediaError } from "../errors.js";
import type { CoordinationBackend } from "./backend.js";
import type { CheckedSharedOptions } from "./options.js";
import type { CoordinationLock } from "./types.js";

/** @internal The part of the TTL a lock gives up early (its signal aborts at 80% of the TTL). */
export const LOSS_MARGIN_RATIO = 0.2;

/** @internal What a held lock needs from its coordinator. */
export interface LockContext {
  readonly kind: string;
  readonly backend: CoordinationBackend;
  readonly options: CheckedSharedOptions;
  /** Runs a backend call under the command deadline. */
  timed<T>(what: string, promise: Promise<T>): Promise<T>;
  /** Records a failed backend call (one warning per outage). */
  failing(op: string, error: unknown): void;
  /** Records a successful backend call. */
  recovered(): void;
}

/** @internal */
export interface HeldLock extends CoordinationLock {
  /** Releases in the backend too; resolves when done (never rejects). */
  release(): Promise<void>;
}

/** @internal */
export interface LockGrant {
  name: string;
  token: string;
  generation: number;
  ttlMs: number;
  /** When the take was sent (`options.now()`). */
  sentAt: number;
  /** Called once the lock is released or lost (the coordinator forgets it). */
  onDone: () => void;
  /** The in-process lock that keeps this process from taking the name twice. */
  local: CoordinationLock;
}

/** @internal */
export function holdLock(ctx: LockContext, grant: LockGrant): HeldLock {
  const { name, token, ttlMs } = grant;
  const { now } = ctx.options;
  const controller = new AbortController();
  const margin = Math.floor(ttlMs * LOSS_MARGIN_RATIO);
  let validUntil = grant.sentAt + ttlMs - margin;
  let renewTimer: NodeJS.Timeout | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  let inFlight = false;
  let finished = false;
  let released = false;

  const stop = () => {
    if (finished) return false;
    finished = true;
    clearTimeout(renewTimer);
    clearTimeout(deadlineTimer);
    grant.onDone();
    return true;
  };
  const lose = (why: string) => {
    if (!stop()) return;
    controller.abort(
      new MediaError("M_UNKNOWN", `${ctx.kind} lock "${name}" lost: ${why}`, { status: 503 }),
    );
  };
  const armDeadline = () => {
    clearTimeout(deadlineTimer);
    const left = validUntil - now();
    if (left <= 0) {
      lose(`no successful renewal within ${ttlMs - margin} ms (80% of ttlMs ${ttlMs})`);
      return;
    }
    deadlineTimer = setTimeout(armDeadline, left);
    deadlineTimer.unref();
  };
  const schedule = (ms: number) => {
    renewTimer = setTimeout(() => void renew(), Math.max(5, Math.floor(ms)));
    renewTimer.unref();
  };
  const renew = async () => {
    if (finished) return;
    if (inFlight) {
      schedule(ttlMs / 6);
      return;
    }
    inFlight = true;
    const sentAt = now();
    try {
      const ours = await ctx.timed("renew", ctx.backend.renew(name, token, ttlMs));
      if (finished) return;
      ctx.recovered();
      if (!ours) {
        lose("another holder took it, or it expired in the backend");
        return;
      }
      // A reply that arrives after the deadline changes nothing: the lock is already lost.
      if (sentAt + ttlMs - margin > validUntil) validUntil = sentAt + ttlMs - margin;
      schedule(ttlMs / 3);
    } catch (error) {
      if (finished) return;
      ctx.failing("renew", error);
      schedule(ttlMs / 6);
    } finally {
      inFlight = false;
    }
  };
  armDeadline();
  schedule(ttlMs / 3);

  return {
    name,
    generation: grant.generation,
    signal: controller.signal,
    local: false,
    async release() {
      if (released) return;
      released = true;
      stop();
      await grant.local.release();
      // Also after a loss: a token-checked delete frees the name sooner if it is still ours.
      try {
        await ctx.timed("release", ctx.backend.release(name, token));
      } catch (error) {
        // It expires on its own after ttlMs.
        ctx.failing("release", error);
      }
    },
  };
}
