import { MediaError } from "../errors.js";
import type { ThumbnailQueueStats } from "./types.js";

/**
 * A bounded admission queue: `concurrency` jobs hold a slot, `maxQueue` more wait for one,
 * and any further job is refused at once (503 `M_LIMIT_EXCEEDED` with `retryAfterMs`) so
 * that source buffers never pile up in memory without bound.
 */
export interface JobQueue {
  /** Waits for a slot; resolves with the function that gives it back (call it exactly once). */
  acquire(): Promise<() => void>;
  stats(): ThumbnailQueueStats;
}

export function createJobQueue(
  concurrency: number,
  maxQueue: number,
  retryAfterMs: number,
): JobQueue {
  let active = 0;
  const waiting: Array<() => void> = [];

  const makeRelease = (): (() => void) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiting.shift();
      // Hand the slot straight to the next waiter, so `active` never dips and a newcomer
      // cannot overtake the queue.
      if (next) next();
      else active--;
    };
  };

  return {
    async acquire(): Promise<() => void> {
      if (active < concurrency) {
        active++;
        return makeRelease();
      }
      if (waiting.length >= maxQueue) {
        throw new MediaError(
          "M_LIMIT_EXCEEDED",
          `Thumbnailer is busy (concurrency ${concurrency}, maxQueue ${maxQueue} reached); retry later`,
          { status: 503, retryAfterMs },
        );
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
      return makeRelease();
    },
    stats: () => ({ active, queued: waiting.length }),
  };
}
