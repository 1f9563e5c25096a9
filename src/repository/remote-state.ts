// What this process remembers about remote servers between lookups: origins that failed
// (backed off, doubling), media the remote said does not exist, and the download slots of
// each origin.
import { LRUCache } from "lru-cache";
import { MediaError } from "../errors.js";
import { createSingleFlight, type SingleFlight } from "../internal/single-flight.js";
import type { MediaRecord } from "../metadata/types.js";
import type { ResolvedRemoteOptions } from "./remote-options.js";

/** An origin that failed, answered at once until `until` (wall clock, ms). */
interface OriginFailure {
  /** Failures in a row; the backoff doubles with each. */
  failures: number;
  until: number;
  /** 502, or 504 when the last failure was a timeout. */
  status: number;
}

/** How long a client refused for a full download queue is told to wait. */
const QUEUE_FULL_RETRY_MS = 1000;

/**
 * Download slots per origin: up to `maxConcurrent` at once, then a FIFO queue of
 * `maxQueued`; past it `503 M_LIMIT_EXCEEDED` at once. A queued fetch gives up (same answer)
 * when its signal aborts. @internal
 */
export class OriginSlots {
  readonly #origins = new Map<string, { active: number; queue: Array<() => void> }>();
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;

  constructor(maxConcurrent: number, maxQueued: number) {
    this.#maxConcurrent = maxConcurrent;
    this.#maxQueued = maxQueued;
  }

  /** Waits for a slot; the returned function gives it back (once). */
  async acquire(origin: string, signal: AbortSignal): Promise<() => void> {
    let entry = this.#origins.get(origin);
    if (!entry) this.#origins.set(origin, (entry = { active: 0, queue: [] }));
    const slot = entry;
    if (slot.active < this.#maxConcurrent) {
      slot.active++;
    } else {
      if (slot.queue.length >= this.#maxQueued) throw busy(origin);
      await new Promise<void>((resolve, reject) => {
        const admit = (): void => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const i = slot.queue.indexOf(admit);
          if (i >= 0) slot.queue.splice(i, 1);
          reject(busy(origin));
        };
        slot.queue.push(admit);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // A slot is handed straight to the next in line, so `active` stays the same.
      const next = slot.queue.shift();
      if (next) return next();
      if (--slot.active === 0) this.#origins.delete(origin);
    };
  }
}

function busy(origin: string): MediaError {
  return new MediaError(
    "M_LIMIT_EXCEEDED",
    `Too many downloads from ${origin} are in progress (remote.maxQueuedPerOrigin); retry later`,
    { status: 503, retryAfterMs: QUEUE_FULL_RETRY_MS },
  );
}

/** The remote media state of one repository. @internal */
export interface RemoteState {
  readonly options: ResolvedRemoteOptions;
  /** Fetches in flight in this process, by `origin/mediaId`. */
  readonly flights: SingleFlight<MediaRecord>;
  readonly failures: LRUCache<string, OriginFailure>;
  /** Media the remote answered 404 for, by `origin/mediaId`: until when (wall clock, ms). */
  readonly notFound: LRUCache<string, number>;
  readonly slots: OriginSlots;
}

/** @internal */
export function createRemoteState(options: ResolvedRemoteOptions): RemoteState {
  return {
    options,
    flights: createSingleFlight<MediaRecord>(),
    failures: new LRUCache({ max: options.maxRememberedEntries }),
    notFound: new LRUCache({ max: options.maxRememberedEntries }),
    slots: new OriginSlots(options.maxConcurrentPerOrigin, options.maxQueuedPerOrigin),
  };
}

/** Throws the remembered answer for an origin in backoff or a media known missing. @internal */
export function checkRemembered(
  state: RemoteState,
  origin: string,
  mediaId: string,
  now: number,
): void {
  const missingUntil = state.notFound.get(`${origin}/${mediaId}`);
  if (missingUntil !== undefined) {
    if (missingUntil > now) throw new MediaError("M_NOT_FOUND", "Media not found");
    state.notFound.delete(`${origin}/${mediaId}`);
  }
  const failure = state.failures.get(origin);
  if (failure && failure.until > now) {
    throw new MediaError(
      "M_UNKNOWN",
      `${origin} is unreachable, retrying after ${new Date(failure.until).toISOString()}`,
      { status: failure.status },
    );
  }
}

/** Backs an origin off: `failureBackoffMs`, doubled per failure in a row, at most the max. @internal */
export function rememberFailure(
  state: RemoteState,
  origin: string,
  status: number,
  now: number,
): void {
  const { failureBackoffMs, maxFailureBackoffMs } = state.options;
  const failures = (state.failures.get(origin)?.failures ?? 0) + 1;
  const backoff = Math.min(failureBackoffMs * 2 ** Math.min(failures - 1, 30), maxFailureBackoffMs);
  state.failures.set(origin, { failures, until: now + backoff, status });
}

/** A remote 404, answered without a call for `notFoundTtlMs`. @internal */
export function rememberNotFound(
  state: RemoteState,
  origin: string,
  mediaId: string,
  now: number,
): void {
  if (state.options.notFoundTtlMs > 0) {
    state.notFound.set(`${origin}/${mediaId}`, now + state.options.notFoundTtlMs);
  }
}
