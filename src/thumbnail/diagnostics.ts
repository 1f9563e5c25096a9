import { channel } from "node:diagnostics_channel";
import { MediaError } from "../errors.js";
import type { ThumbnailSourceType } from "./types.js";

/**
 * The diagnostics channel thumbnail events are published on:
 * `{ event: "generate" | "generateAll" | "placeholder", mime, durationMs, count, animated }`
 * on success and `{ event: "refused", errcode, status, message }` on a refusal.
 *
 * @example
 * ```ts
 * import { subscribe } from "node:diagnostics_channel";
 * import { THUMBNAIL_CHANNEL } from "matrix-media-kit/thumbnail";
 * subscribe(THUMBNAIL_CHANNEL, (message) => console.log(message));
 * ```
 */
export const THUMBNAIL_CHANNEL = "matrix-media-kit:thumbnail";

/**
 * Where a refusal happened: before reading bytes, at sniffing, at the header read, at
 * admission, or later. "sniff" and "header" mean no pixel decoder ran.
 * @internal
 */
export type RefusalStage = "input" | "sniff" | "header" | "queue" | "decode";

// Keyed by the thrown object so that the stage travels with the error through `await`s
// without widening the public error type.
const stages = new WeakMap<object, RefusalStage>();

/**
 * Records where `err` was thrown, for the diagnostics channel; returns it.
 * @internal
 */
export function atStage<E>(stage: RefusalStage, err: E): E {
  if (typeof err === "object" && err !== null) stages.set(err, stage);
  return err;
}

/**
 * Turns anything thrown by sharp or file-type into a client-safe `MediaError`.
 * @internal
 */
export function toMediaError(err: unknown): MediaError {
  if (MediaError.is(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(message)) {
    return new MediaError("M_TOO_LARGE", "Image exceeds the thumbnailer's pixel limit", {
      status: 413,
      cause: err,
    });
  }
  if (/timeout/i.test(message)) {
    return new MediaError("M_UNKNOWN", "Timed out generating the thumbnail", {
      status: 504,
      cause: err,
    });
  }
  if (/unsupported image format/i.test(message)) {
    return new MediaError("M_UNSUPPORTED", "Unsupported image format", { status: 400, cause: err });
  }
  return new MediaError("M_UNKNOWN", "Image is corrupt, truncated or cannot be decoded", {
    status: 400,
    cause: err,
  });
}

/**
 * Publishes a thumbnailer's events; a no-op while nobody subscribes.
 * @internal
 */
export interface ThumbnailDiagnostics {
  /** Converts `err` to the `MediaError` the caller gets, publishing the refusal. */
  refused(err: unknown): MediaError;
  /** Publishes a success that began at `started` (on the thumbnailer's clock). */
  done(
    event: "generate" | "generateAll" | "placeholder",
    mime: ThumbnailSourceType,
    started: number,
    count: number,
    animated: boolean,
  ): void;
}

/** @internal */
export function createDiagnostics(now: () => number): ThumbnailDiagnostics {
  const diagnostics = channel(THUMBNAIL_CHANNEL);
  return {
    refused(err) {
      const e = toMediaError(err);
      if (diagnostics.hasSubscribers) {
        const stage = (typeof err === "object" && err !== null && stages.get(err)) || "decode";
        diagnostics.publish({
          event: "refused",
          stage,
          errcode: e.errcode,
          status: e.status,
          message: e.message,
        });
      }
      return e;
    },
    done(event, mime, started, count, animated) {
      if (diagnostics.hasSubscribers) {
        diagnostics.publish({ event, mime, durationMs: now() - started, count, animated });
      }
    },
  };
}
