// The wire format of every cross-process message, shared by every driver (Redis pub/sub,
// PostgreSQL NOTIFY) and by cache invalidation: a small versioned JSON object
// `{ v, type, ... }`, so processes of two releases can run side by side.
import type { CoordinationLogger } from "./options.js";

/** A decoded wake-up. */
export interface WakeEnvelope {
  readonly v: 1;
  readonly type: "wake";
  readonly topic: string;
}

/**
 * A decoded cache invalidation: drop `keys` (`delete`) or every entry (`clear`) from the
 * local tiers. `origin` names the sending process (a process ignores its own messages).
 * The same bytes the first release of cache invalidation sent, so old and new processes
 * understand each other during a rolling upgrade.
 */
export type InvalidationEnvelope =
  | { readonly v: 1; readonly type: "delete"; readonly origin: string; readonly keys: string[] }
  | { readonly v: 1; readonly type: "clear"; readonly origin: string };

/** Any message of the envelope. */
export type CoordinationEnvelope = WakeEnvelope | InvalidationEnvelope;

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
 * Encodes a cache invalidation: `{"v":1,"origin":"…","type":"delete","keys":[…]}` or
 * `{"v":1,"origin":"…","type":"clear"}`.
 *
 * @example
 * ```ts
 * import { encodeInvalidation } from "matrix-media-kit/coordination";
 * encodeInvalidation("process-a", { type: "delete", keys: ["blob:abc"] });
 * ```
 */
export function encodeInvalidation(
  origin: string,
  message: { type: "delete"; keys: readonly string[] } | { type: "clear" },
): string {
  return JSON.stringify(
    message.type === "delete"
      ? { v: ENVELOPE_VERSION, origin, type: "delete", keys: [...message.keys] }
      : { v: ENVELOPE_VERSION, origin, type: "clear" },
  );
}

const describe = (x: unknown) => (typeof x === "number" || typeof x === "string" ? x : typeof x);

/** A well-formed message of this version, or `undefined`. */
function validated(value: Record<string, unknown>): CoordinationEnvelope | undefined {
  const { type, topic, origin, keys } = value;
  if (type === "wake" && typeof topic === "string" && topic !== "") {
    return { v: ENVELOPE_VERSION, type, topic };
  }
  if (typeof origin !== "string") return undefined;
  if (type === "clear") return { v: ENVELOPE_VERSION, type, origin };
  if (type === "delete" && Array.isArray(keys) && keys.every((k) => typeof k === "string")) {
    return { v: ENVELOPE_VERSION, type, origin, keys };
  }
  return undefined;
}

/**
 * Decodes any message of the envelope (a wake-up or a cache invalidation). Answers
 * `undefined`, without throwing, for anything else: other versions (a newer release during a
 * rolling upgrade) are logged at `warn` and ignored, garbage is logged at `debug`.
 *
 * @example
 * ```ts
 * import { decodeMessage } from "matrix-media-kit/coordination";
 * decodeMessage('{"v":1,"origin":"b","type":"clear"}'); // { v: 1, type: "clear", origin: "b" }
 * decodeMessage('{"v":2,"type":"clear"}', console); // undefined, with a warning
 * ```
 */
export function decodeMessage(
  raw: string | Buffer,
  logger?: CoordinationLogger,
): CoordinationEnvelope | undefined {
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
  const fields = value as Record<string, unknown>;
  if (fields.v !== ENVELOPE_VERSION) {
    logger?.warn("ignoring a coordination message of an unknown version", {
      version: describe(fields.v),
    });
    return undefined;
  }
  const message = validated(fields);
  if (!message) {
    logger?.debug?.("ignoring a malformed coordination message", { type: describe(fields.type) });
  }
  return message;
}

/**
 * Decodes a wake-up: {@link decodeMessage}, answering `undefined` for every other type.
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
  const message = decodeMessage(raw, logger);
  if (message === undefined || message.type === "wake") return message;
  logger?.debug?.("ignoring a coordination message that is not a wake-up", { type: message.type });
  return undefined;
}
