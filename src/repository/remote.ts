// Remote media on a lookup miss: fetched once per process (a single flight), once per
// deployment (a lock on the coordinator), with waiters in other processes woken by the
// holder's notify and polling metadata meanwhile.
import type { CoordinationLock } from "../coordination/types.js";
import { MediaError } from "../errors.js";
import { abortable } from "../internal/abortable.js";
import type { MediaRecord } from "../metadata/types.js";
import { notFound, type RepositoryContext } from "./context.js";
import { fetchAndStore } from "./remote-fetch.js";
import { checkRemembered, type RemoteState } from "./remote-state.js";
import type { LookupOptions } from "./types.js";

/**
 * How often a waiter re-reads metadata and retries the lock: wake-ups are hints, and a lock
 * whose holder died frees at its TTL without one.
 */
const WAIT_POLL_MS = 250;

/** Added to the wait for another process: its insert and notify come after its download. */
const WAIT_MARGIN_MS = 5000;

/** The coordinator's name (lock and topic) of a remote media. @internal */
export function remoteLockName(origin: string, mediaId: string): string {
  return `remote:${origin}/${mediaId}`;
}

async function holdAndFetch(
  ctx: RepositoryContext,
  state: RemoteState,
  origin: string,
  mediaId: string,
  lock: CoordinationLock,
): Promise<MediaRecord> {
  const { coordinator } = state.options;
  try {
    // Another process may have stored it between our miss and our lock.
    const existing = await ctx.metadata.getMedia(origin, mediaId);
    if (existing) return existing;
    return await fetchAndStore(ctx, state, origin, mediaId, lock.signal);
  } finally {
    await lock.release();
    await coordinator.notify(lock.name);
  }
}

/** Waits up to `ms` for a wake-up on `topic`, checking metadata once subscribed. */
async function waitForRecord(
  ctx: RepositoryContext,
  state: RemoteState,
  origin: string,
  mediaId: string,
  ms: number,
): Promise<MediaRecord | undefined> {
  const stop = new AbortController();
  // The coordinator's timers are unref'd; a lookup in progress keeps the process alive (past
  // the wait's own timer, and cleared once it is over).
  const alive = setTimeout(() => undefined, ms + 1000);
  // Subscribed before the check, so a notify between the check and the wait is not missed.
  const woken = state.options.coordinator
    .wait(remoteLockName(origin, mediaId), ms, stop.signal)
    .catch(() => undefined);
  try {
    const record = await ctx.metadata.getMedia(origin, mediaId);
    if (record) return record;
    await woken;
    return await ctx.metadata.getMedia(origin, mediaId);
  } finally {
    stop.abort();
    clearTimeout(alive);
  }
}

/** Takes the lock and fetches, or waits for whoever holds it; retries the lock when it frees. */
async function fetchOnce(
  ctx: RepositoryContext,
  state: RemoteState,
  origin: string,
  mediaId: string,
): Promise<MediaRecord> {
  const { coordinator, lockTtlMs, timeoutMs } = state.options;
  const name = remoteLockName(origin, mediaId);
  const deadline = ctx.monotonicNow() + Math.max(timeoutMs, lockTtlMs) + WAIT_MARGIN_MS;
  for (;;) {
    const lock = await coordinator.tryLock(name, lockTtlMs);
    if (lock) return holdAndFetch(ctx, state, origin, mediaId, lock);
    const left = deadline - ctx.monotonicNow();
    if (left <= 0) {
      throw new MediaError(
        "M_UNKNOWN",
        `Timed out waiting for another process to fetch ${origin}/${mediaId}`,
        { status: 504 },
      );
    }
    const record = await waitForRecord(ctx, state, origin, mediaId, Math.min(left, WAIT_POLL_MS));
    if (record) return record;
  }
}

/**
 * The record of media of another server that is not stored: fetched from the remote source
 * (once for concurrent lookups in every process sharing the coordinator) unless remote media
 * is off, `allowRemote` is false, or the caches answer first. @internal
 */
export async function fetchRemote(
  ctx: RepositoryContext,
  origin: string,
  mediaId: string,
  opts: LookupOptions,
): Promise<MediaRecord> {
  const state = ctx.remote;
  if (!state || opts.allowRemote === false) throw notFound();
  checkRemembered(state, origin, mediaId, ctx.now());
  const flight = state.flights.run(`${origin}/${mediaId}`, () =>
    fetchOnce(ctx, state, origin, mediaId),
  );
  // A caller that goes away stops waiting; the shared fetch goes on for the others.
  return opts.signal ? abortable(flight, opts.signal) : flight;
}

/** Forgets what this process remembers of a media (its remote 404), e.g. once deleted. @internal */
export function forgetRemote(ctx: RepositoryContext, origin: string, mediaId: string): void {
  ctx.remote?.notFound.delete(`${origin}/${mediaId}`);
}
