import { channel } from "node:diagnostics_channel";
import { MediaError } from "../errors.js";
import { atStage } from "./diagnostics.js";
import type { ThumbnailQueueStats } from "./types.js";

/**
 * A bounded admission queue: `concurrency` jobs hold a slot, `maxQueue` more wait for one,
 * and any further job is refused at once (503 `M_LIMIT_EXCEEDED` with `retryAfterMs`) so
 * that source buffers never pile up in memory without bound.
 * @internal
 */
export interface JobQueue {
  /** Waits for a slot; resolves with the function that gives it back (call it exactly once). */
  acquire(): Promise<() => void>;
  stats(): ThumbnailQueueStats;
}

// `{ queue, active, queued }` after every change, for a queue-depth gauge (metrics subpath).
const queueChannel = channel("matrix-media-kit:thumbnail:queue");
let queueIds = 0;

/** @internal */
export function createJobQueue(
  concurrency: number,
  maxQueue: number,
  retryAfterMs: number,
): JobQueue {
  let active = 0;
  const waiting: Array<() => void> = [];
  const queue = ++queueIds;
  const changed = (): void => {
    if (queueChannel.hasSubscribers)
      queueChannel.publish({ queue, active, queued: waiting.length });
  };

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
      changed();
    };
  };

  return {
    async acquire(): Promise<() => void> {
      if (active < concurrency) {
        active++;
        changed();
        return makeRelease();
      }
      if (waiting.length >= maxQueue) {
        throw new MediaError(
          "M_LIMIT_EXCEEDED",
          `Thumbnailer is busy (concurrency ${concurrency}, maxQueue ${maxQueue} reached); retry later`,
          { status: 503, retryAfterMs },
        );
      }
      const admitted = new Promise<void>((resolve) => waiting.push(resolve));
      changed();
      await admitted;
      return makeRelease();
    },
    stats: () => ({ active, queued: waiting.length }),
  };
}

/**
 * Runs `job` once `queue` admits it, with a deadline of `timeoutMs` from admission (the wait
 * for a slot is not counted). `job` is only called after admission, so whatever it does first
 * (reading the source through a loader) is bounded by the queue too. The caller gets
 * a 504 at the deadline, but the slot is held until `job` really settles, so a slow image
 * never lets more than `concurrency` decodes onto the CPU.
 * @internal
 */
export async function runAdmitted<T>(
  queue: JobQueue,
  timeoutMs: number,
  job: () => Promise<T>,
): Promise<T> {
  let release: () => void;
  try {
    release = await queue.acquire();
  } catch (err) {
    throw atStage("queue", err);
  }
  let work: Promise<T>;
  try {
    work = job();
  } catch (err) {
    release();
    throw err;
  }
  work.then(release, release);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new MediaError("M_UNKNOWN", "Timed out generating the thumbnail", { status: 504 })),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
