// Helpers shared by the drivers: key validation, streaming with hashing, range checks.
import { createHash, type Hash } from "node:crypto";
import { channel } from "node:diagnostics_channel";
import { ConfigError, MediaError } from "../errors.js";
import type { ByteRange, DatastorePutResult } from "./types.js";

/** Publishes `{ datastore, op, key?, size?, durationMs?, error? }` events. */
export const datastoreChannel = channel("matrix-media-kit:datastore");

/** Keys produced by the kit's content-addressed drivers: the lower-case hex SHA-256. */
export const KEY_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Refuses any key the store did not produce. Only 64 lower-case hex characters pass, so
 * `..`, `%2e%2e`, `\`, NUL, `/` and absolute paths can never reach a path or an object key.
 */
export function assertKey(key: unknown, storeId: string): asserts key is string {
  if (typeof key !== "string" || !KEY_PATTERN.test(key)) {
    const shown = typeof key === "string" ? JSON.stringify(key.slice(0, 80)) : typeof key;
    throw new MediaError(
      "M_INVALID_PARAM",
      `Invalid datastore key ${shown} for datastore "${storeId}": expected 64 lower-case hex characters`,
    );
  }
}

export function notFound(key: string, storeId: string, cause?: unknown): MediaError {
  return new MediaError("M_NOT_FOUND", `Blob ${key} not found in datastore "${storeId}"`, {
    cause,
  });
}

export function rangeNotSatisfiable(range: ByteRange, size: number): MediaError {
  return new MediaError(
    "M_INVALID_PARAM",
    `Range ${range.start}-${range.end ?? ""} is not satisfiable for a blob of ${size} bytes`,
    { status: 416 },
  );
}

function isSafeInteger(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/** Validates a range's shape (not against a size). */
export function assertRangeShape(range: ByteRange): void {
  if (!isSafeInteger(range.start) || (range.end !== undefined && !isSafeInteger(range.end))) {
    throw new MediaError(
      "M_INVALID_PARAM",
      `Invalid range: start and end must be non-negative integers (got ${String(range.start)}-${String(range.end)})`,
      { status: 416 },
    );
  }
  if (range.end !== undefined && range.end < range.start) {
    throw new MediaError(
      "M_INVALID_PARAM",
      `Invalid range: end ${range.end} < start ${range.start}`,
      {
        status: 416,
      },
    );
  }
}

/** Resolves a range against a size: `end` is clamped to the last byte; past EOF → 416. */
export function resolveRange(range: ByteRange, size: number): { start: number; end: number } {
  assertRangeShape(range);
  if (range.start >= size) throw rangeNotSatisfiable(range, size);
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error("The operation was aborted"), {
    name: "AbortError",
    cause: reason,
  });
}

export function tooLarge(maxBytes: number): MediaError {
  return new MediaError(
    "M_TOO_LARGE",
    `Upload exceeds the maximum of ${maxBytes} bytes (maxBytes)`,
  );
}

export function assertPutOptions(options: { maxBytes?: number } | undefined): void {
  if (options?.maxBytes !== undefined && !isSafeInteger(options.maxBytes)) {
    throw new TypeError(
      `Expected a non-negative integer for maxBytes but received ${String(options.maxBytes)}`,
    );
  }
}

/**
 * Iterates a put source, hashing and counting every byte, refusing more than `maxBytes`,
 * and stopping promptly when `signal` aborts even if the source is stalled.
 */
export class HashingSource implements AsyncIterable<Uint8Array> {
  readonly hash: Hash = createHash("sha256");
  size = 0;
  private done = false;

  constructor(
    private readonly source: AsyncIterable<Uint8Array> | Uint8Array,
    private readonly maxBytes: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The hex digest; only valid once iteration finished. */
  digest(): string {
    return this.hash.digest("hex");
  }

  private take(chunk: Uint8Array): Uint8Array {
    this.size += chunk.byteLength;
    if (this.maxBytes !== undefined && this.size > this.maxBytes) throw tooLarge(this.maxBytes);
    this.hash.update(chunk);
    return chunk;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.done) throw new Error("A put source can only be consumed once");
    this.done = true;
    const signal = this.signal;
    if (signal?.aborted) throw abortError(signal);
    if (this.source instanceof Uint8Array) {
      if (this.source.byteLength > 0) yield this.take(this.source);
      return;
    }
    const iterator = this.source[Symbol.asyncIterator]();
    // One abort listener for the whole stream; each pending next() can be rejected by it
    // (racing a shared promise per chunk would pile up reactions on it).
    let rejectPending: ((err: Error) => void) | undefined;
    const onAbort = (): void => rejectPending?.(abortError(signal!));
    signal?.addEventListener("abort", onAbort, { once: true });
    let finished = false;
    try {
      for (;;) {
        const next = signal
          ? await new Promise<IteratorResult<unknown>>((resolve, reject) => {
              if (signal.aborted) return reject(abortError(signal));
              rejectPending = reject;
              iterator.next().then(resolve, reject);
            })
          : await iterator.next();
        rejectPending = undefined;
        if (next.done) {
          finished = true;
          return;
        }
        const chunk: unknown = next.value;
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError("A put source must yield Uint8Array chunks (Buffers)");
        }
        if (chunk.byteLength > 0) yield this.take(chunk);
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (!finished) {
        // Do not await: a stalled source may never settle its pending next().
        void Promise.resolve(iterator.return?.()).catch(() => undefined);
      }
    }
  }
}

/** Publishes a finished put and returns its result: the key is the SHA-256 in every driver. */
export function finishPut(
  storeId: string,
  hashing: HashingSource,
  sha256: string,
  started: number,
  deduplicated: boolean,
): DatastorePutResult {
  datastoreChannel.publish({
    datastore: storeId,
    op: "put",
    key: sha256,
    size: hashing.size,
    durationMs: performance.now() - started,
    deduplicated,
  });
  return { key: sha256, size: hashing.size, sha256 };
}

/**
 * Runs one driver operation and, when anyone listens, publishes its latency (`get`: until the
 * stream is open) and any failure. A missing blob or an unsatisfiable range is an answer, not a
 * failure. `errorsOnly` for `put`, whose success {@link finishPut} already publishes.
 */
export async function observeOp<T>(
  storeId: string,
  op: "get" | "head" | "put" | "delete",
  run: () => Promise<T>,
  errorsOnly = false,
): Promise<T> {
  if (!datastoreChannel.hasSubscribers) return run();
  const started = performance.now();
  try {
    const result = await run();
    if (!errorsOnly) {
      datastoreChannel.publish({ datastore: storeId, op, durationMs: performance.now() - started });
    }
    return result;
  } catch (error) {
    const answer = MediaError.is(error) && (error.status === 404 || error.status === 416);
    datastoreChannel.publish({
      datastore: storeId,
      op,
      durationMs: performance.now() - started,
      ...(answer ? { notFound: error.status === 404 } : { error }),
    });
    throw error;
  }
}

export function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A datastore `id` option, or a {@link ConfigError} naming `factory` and `option`. */
export function validateId(id: unknown, option: string, factory: string): string {
  if (typeof id !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
    throw new ConfigError(
      `${factory}: expected options.${option} to match ^[A-Za-z0-9._-]{1,64}$ but received ${JSON.stringify(id)}`,
      { option },
    );
  }
  return id;
}

/** How a refused datastore option is shown in a `ConfigError`: its id, or what the value is. */
export function describeOption(value: unknown): string {
  if (value === null || typeof value !== "object") return String(value);
  const id = (value as { id?: unknown }).id;
  return typeof id === "string" ? `an object with id "${id}"` : "an object";
}

/** Refuses writes to a read-only datastore. */
export function refuseReadOnly(store: { id: string; readOnly: boolean }, op: string): void {
  if (store.readOnly) {
    throw new MediaError(
      "M_FORBIDDEN",
      `Datastore "${store.id}" is read-only: ${op} refused (readOnly)`,
    );
  }
}

/**
 * True when `key` has the shape of a key produced by the kit's datastores (the lower-case
 * hex SHA-256 of the blob).
 *
 * @example
 * ```ts
 * isDatastoreKey("../etc/passwd"); // false
 * ```
 */
export function isDatastoreKey(key: unknown): key is string {
  return typeof key === "string" && KEY_PATTERN.test(key);
}
