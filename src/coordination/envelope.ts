// The wire format of wake-ups, shared by every driver (Redis pub/sub, PostgreSQL NOTIFY):
// a small versioned JSON object, so processes of two releases can run side by side.
import type { CoordinationLogger } from "./options.js";

/** A decoded wake-up. */
export interface WakeEnvelope {
  readonly v: 1;
  readonly type: "wake";
  readonly topic: string;
}

/** The envelope version this release writes and reads. */
export const ENVELOPE_VERSION = 1;

/**
 * Encodes a wake-up of `topic`: `{"v":1,"type":"wake","topic":"…"}`.
 *
 * @example
 * ```ts
 * import { encodeEnvelope } from "matrix-media-kit/coordination";
 * encodeEnvelope("remote:example.org/abc"); // '{"v":1,"type":"wake","topic":"remote:example.org/abc"}'
 * ```
 */
export function encodeEnvelope(topic: string): string {
  const envelope: WakeEnvelope = { v: ENVELOPE_VERSION, type: "wake", topic };
  return JSON.stringify(envelope);
}

/**
 * Decodes a message from the backend. Answers `undefined`, without throwing, for anything
 * that is not a version-1 wake-up: other versions (a newer release during a rolling upgrade)
 * are logged at `warn` and ignored, garbage is logged at `debug`.
 *
 * @example
 * ```ts
 * import { decodeEnvelope } from "matrix-media-kit/coordination";
 * decodeEnvelope('{"v":1,"type":"wake","topic":"t"}'); // { v: 1, type: "wake", topic: "t" }
 * decodeEnvelope('{"v":2,"type":"wake","topic":"t"}', console); // undefined, with a warning
 * decodeEnvelope("not json"); // undefined
 * ```
 */
export function decodeEnvelope(
  raw: string | Buffer,
  logger?: CoordinationLogger,
): WakeEnvelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8"));
  } catch {
    logger?.debug?.("ignoring a coordination message that is not JSON", { length: raw.length });
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    logger?.debug?.("ignoring a coordination message that is not an object");
    return undefined;
  }
  const { v, type, topic } = value as Record<string, unknown>;
  if (v !== ENVELOPE_VERSION) {
    logger?.warn("ignoring a coordination message of an unknown version", {
      version: typeof v === "number" || typeof v === "string" ? v : typeof v,
    });
    return undefined;
  }
  if (type !== "wake" || typeof topic !== "string" || topic === "") {
    logger?.debug?.("ignoring a malformed coordination message", {
      type: typeof type === "string" ? type : typeof type,
    });
    return undefined;
  }
  return { v: ENVELOPE_VERSION, type, topic };
}
