// The lock holder's work: download remote media from the source under the deadline and the
// size limit, stream it into the datastore, record it as `kind: "remote"`, and sort any
// failure into what the origin's failure cache and the client are told.
import { channel } from "node:diagnostics_channel";
import { canonicalContentType, safeFilename } from "../http/media-type.js";
import { MediaError } from "../errors.js";
import { abortable, abortableChunks } from "../internal/abortable.js";
import type { MediaRecord } from "../metadata/types.js";
import type { RepositoryContext } from "./context.js";
import { finishUpload, ingest } from "./ingest.js";
import { rememberFailure, rememberNotFound, type RemoteState } from "./remote-state.js";
import type { RemoteMedia } from "./remote-types.js";

/** Diagnostics channel: one message per remote fetch, `{ origin, bytes, ms, outcome }`. @internal */
export const REMOTE_CHANNEL = "matrix-media-kit:repository:remote";
const remoteChannel = channel(REMOTE_CHANNEL);

/** How a fetch ended, as published on {@link REMOTE_CHANNEL}. @internal */
export type RemoteOutcome =
  | "stored"
  | "duplicate"
  | "not_found"
  | "too_large"
  | "timeout"
  | "lock_lost"
  | "busy"
  | "failed"
  | "error";

/** An error of the source (its `download` or its stream), as opposed to our own storage's. */
class RemoteError extends Error {
  constructor(cause: unknown) {
    super("The remote media source failed", { cause });
  }
}

const toRemoteError = (error: unknown): RemoteError => new RemoteError(error);

interface Failure {
  error: MediaError;
  outcome: RemoteOutcome;
  /** Set when the origin is to be backed off, with the status it will be answered with. */
  backoff?: number;
}

function remoteTooLarge(maxBytes: number, size?: number): MediaError {
  const what = size === undefined ? "Remote media" : `Remote media of ${size} bytes`;
  return new MediaError("M_TOO_LARGE", `${what} exceeds remote.maxBytes (${maxBytes})`, {
    status: 502,
  });
}

/** What the source's failure means: the client's answer, and whether to back the origin off. */
function remoteFailure(cause: unknown, key: string): Failure {
  if (MediaError.is(cause)) {
    if (cause.errcode === "M_NOT_FOUND") return { error: cause, outcome: "not_found" };
    if (cause.errcode === "M_TOO_LARGE") return { error: cause, outcome: "too_large" };
    if (cause.status >= 500) {
      return { error: cause, outcome: "failed", backoff: cause.status === 504 ? 504 : 502 };
    }
    // A refusal of this media (not of every request to the origin).
    const refused = new MediaError("M_UNKNOWN", `${key}: ${cause.message}`, { status: 502, cause });
    return { error: refused, outcome: "failed" };
  }
  const failed = new MediaError("M_UNKNOWN", `Could not fetch ${key}`, { status: 502, cause });
  return { error: failed, outcome: "failed", backoff: 502 };
}

/** Sorts a failure of {@link fetchAndStore}; `reason` is the deadline's, when it fired. */
function classify(error: unknown, reason: unknown, key: string, maxBytes: number): Failure {
  // Waiting for a slot of the origin is our congestion, not the origin's failure.
  if (MediaError.is(error) && error.errcode === "M_LIMIT_EXCEEDED") {
    return { error, outcome: "busy" };
  }
  if (MediaError.is(reason)) {
    // Our deadline (504) backs the origin off; a lost lock (502) is not the origin's fault.
    if (reason.status === 504) return { error: reason, outcome: "timeout", backoff: 504 };
    return { error: reason, outcome: "lock_lost" };
  }
  if (error instanceof RemoteError) return remoteFailure(error.cause, key);
  if (MediaError.is(error)) {
    // ingest's own refusals: its M_TOO_LARGE is an upload's 413, a mismatch with the declared
    // length its 400; for remote media both are the remote's fault (502).
    if (error.errcode === "M_TOO_LARGE") {
      return { error: remoteTooLarge(maxBytes), outcome: "too_large" };
    }
    if (error.errcode === "M_INVALID_PARAM") {
      const bad = new MediaError("M_UNKNOWN", `${key}: ${error.message}`, {
        status: 502,
        cause: error,
      });
      return { error: bad, outcome: "failed" };
    }
    return { error, outcome: "error" };
  }
  const local = new MediaError("M_UNKNOWN", `Could not store ${key}`, { cause: error });
  return { error: local, outcome: "error" };
}

function closeStream(media: RemoteMedia): void {
  void media.stream[Symbol.asyncIterator]()
    .return?.()
    ?.catch?.(() => undefined);
}

async function store(
  ctx: RepositoryContext,
  state: RemoteState,
  origin: string,
  mediaId: string,
  signal: AbortSignal,
): Promise<{ record: MediaRecord; outcome: RemoteOutcome }> {
  const { source, maxBytes, timeoutMs } = state.options;
  const download = (async () =>
    source.download(origin, mediaId, { signal, timeoutMs, maxBytes }))();
  let media: RemoteMedia;
  try {
    media = await abortable(download, signal);
  } catch (error) {
    if (!signal.aborted) throw toRemoteError(error);
    // A source that ignored the signal may still answer: close what it answers.
    download.then(closeStream, () => undefined);
    throw signal.reason;
  }
  if (media.contentLength !== undefined && media.contentLength > maxBytes) {
    closeStream(media);
    throw remoteTooLarge(maxBytes, media.contentLength);
  }
  const blob = await ingest(ctx, "remote", abortableChunks(media.stream, signal, toRemoteError), {
    contentType: canonicalContentType(media.contentType),
    contentLength: media.contentLength,
    maxBytes,
    signal,
  });
  const target = {
    origin,
    mediaId,
    kind: "remote" as const,
    contentType: canonicalContentType(media.contentType),
    filename: safeFilename(media.filename),
    uploader: null,
  };
  try {
    const { record } = await finishUpload(ctx, blob, target, async (r) => {
      // A lost lock means another process may be storing it: do not race its record.
      signal.throwIfAborted();
      await ctx.metadata.insertMedia(r);
    });
    return { record, outcome: "stored" };
  } catch (error) {
    // Another process (or one without our coordinator) recorded it first (its blob is the
    // same content-addressed one, so finishUpload kept it): serve that record.
    if (!MediaError.is(error) || error.errcode !== "M_CANNOT_OVERWRITE_MEDIA") throw error;
    const existing = await ctx.metadata.getMedia(origin, mediaId);
    if (!existing) throw error;
    return { record: existing, outcome: "duplicate" };
  }
}

/**
 * Downloads and stores one remote media under `lockSignal` (aborts when the lock is lost)
 * and the `timeoutMs` deadline; updates the origin's failure cache and the 404 cache. @internal
 */
export async function fetchAndStore(
  ctx: RepositoryContext,
  state: RemoteState,
  origin: string,
  mediaId: string,
  lockSignal: AbortSignal,
): Promise<MediaRecord> {
  const key = `${origin}/${mediaId}`;
  const { timeoutMs, maxBytes } = state.options;
  const started = ctx.monotonicNow();
  const deadline = new AbortController();
  const timer = setTimeout(() => {
    const message = `Fetching ${key} took longer than remote.timeoutMs (${timeoutMs} ms)`;
    deadline.abort(new MediaError("M_UNKNOWN", message, { status: 504 }));
  }, timeoutMs);
  const onLost = (): void => {
    const message = `Lost the lock on fetching ${key}; retry`;
    deadline.abort(new MediaError("M_UNKNOWN", message, { status: 502 }));
  };
  lockSignal.addEventListener("abort", onLost, { once: true });
  if (lockSignal.aborted) onLost();
  const publish = (outcome: RemoteOutcome, bytes: number): void => {
    if (!remoteChannel.hasSubscribers) return;
    remoteChannel.publish({ origin, mediaId, bytes, ms: ctx.monotonicNow() - started, outcome });
  };
  let release: (() => void) | undefined;
  try {
    release = await state.slots.acquire(origin, deadline.signal);
    const { record, outcome } = await store(ctx, state, origin, mediaId, deadline.signal);
    state.failures.delete(origin);
    publish(outcome, record.size);
    return record;
  } catch (error) {
    const reason: unknown = deadline.signal.aborted ? deadline.signal.reason : undefined;
    const failure = classify(error, reason, key, maxBytes);
    if (!deadline.signal.aborted) deadline.abort(failure.error);
    if (failure.outcome === "not_found") rememberNotFound(state, origin, mediaId, ctx.now());
    if (failure.backoff !== undefined) rememberFailure(state, origin, failure.backoff, ctx.now());
    if (failure.outcome !== "not_found") {
      ctx.logger?.warn("could not fetch remote media", { origin, mediaId, error });
    }
    publish(failure.outcome, 0);
    throw failure.error;
  } finally {
    clearTimeout(timer);
    lockSignal.removeEventListener("abort", onLost);
    release?.();
  }
}
