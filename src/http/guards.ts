// Bounds on what one client can hold: concurrent uploads per user, upload bodies that stop
// sending, responses the client stops reading, and the mapping of resource exhaustion (out of
// file descriptors or memory) to a retryable 503. Without them 140 idle uploads exhausted a
// 300-fd limit and every other user got `500 EMFILE`.
import type { IncomingMessage, ServerResponse } from "node:http";
import { MediaError } from "../errors.js";

/** What a user over `maxConcurrentUploadsPerUser` is told to wait. */
export const UPLOAD_SLOT_RETRY_MS = 5_000;
/** What a client is told to wait when the process is out of descriptors or memory. */
export const RESOURCE_RETRY_MS = 5_000;

/**
 * Concurrent uploads per user.
 * @internal
 */
export class UploadSlots {
  readonly #inUse = new Map<string, number>();
  #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get max(): number {
    return this.#max;
  }

  /** A new bound for later uploads; uploads in flight keep their slots. */
  setMax(max: number): void {
    this.#max = max;
  }

  /** Takes a slot or throws `429 M_LIMIT_EXCEEDED`; the returned function gives it back once. */
  acquire(userId: string): () => void {
    const used = this.#inUse.get(userId) ?? 0;
    if (used >= this.#max) {
      throw new MediaError(
        "M_LIMIT_EXCEEDED",
        `Too many concurrent uploads (maxConcurrentUploadsPerUser is ${this.#max})`,
        { retryAfterMs: UPLOAD_SLOT_RETRY_MS },
      );
    }
    this.#inUse.set(userId, used + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inUse.get(userId) ?? 1) - 1;
      if (left <= 0) this.#inUse.delete(userId);
      else this.#inUse.set(userId, left);
    };
  }
}

/**
 * The request body, failing with `408` and destroying the socket when the client sends nothing
 * for `idleMs`. Only the wait for the client counts: time the datastore spends writing a chunk
 * does not. Reading stops early without destroying the request otherwise, so an error still
 * reaches the client.
 * @internal
 */
export async function* idleBoundedBody(
  req: IncomingMessage,
  idleMs: number,
  onIdle: () => void,
): AsyncGenerator<Uint8Array> {
  const chunks = req.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>;
  let finished = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          onIdle();
          // Rejected before the socket goes, so the race settles with this error.
          reject(
            new MediaError("M_UNKNOWN", `Upload body idle for over ${idleMs} ms`, { status: 408 }),
          );
          req.destroy();
        }, idleMs);
      });
      const next = chunks.next();
      next.catch(() => undefined);
      let step: IteratorResult<Uint8Array>;
      try {
        step = await Promise.race([next, idle]);
      } finally {
        clearTimeout(timer);
      }
      if (step.done) {
        finished = true;
        return;
      }
      yield step.value;
    }
  } finally {
    // Detaches the iterator without destroying the request (destroyOnReturn: false).
    if (!finished && chunks.return) await chunks.return().catch(() => undefined);
  }
}

/**
 * Destroys responses whose client stopped reading: buffered bytes waiting for more than `ms`
 * without a `drain`. One timer serves every response of a handler, and runs only while some
 * response is in flight.
 * @internal
 */
export class WriteStallWatch {
  readonly #lastProgress = new Map<ServerResponse, number>();
  #ms: number;
  readonly #onStall: (res: ServerResponse) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number, onStall: (res: ServerResponse) => void) {
    this.#ms = ms;
    this.#onStall = onStall;
  }

  get ms(): number {
    return this.#ms;
  }

  /** A new bound, applied from the next check on (the check period follows on the next start). */
  setMs(ms: number): void {
    this.#ms = ms;
  }

  watch(res: ServerResponse): void {
    const progress = (): void => {
      if (this.#lastProgress.has(res)) this.#lastProgress.set(res, performance.now());
    };
    this.#lastProgress.set(res, performance.now());
    res.on("drain", progress);
    res.once("close", () => {
      res.off("drain", progress);
      this.#lastProgress.delete(res);
      if (this.#lastProgress.size === 0) this.#stop();
    });
    this.#timer ??= setInterval(() => this.#check(), Math.min(1_000, Math.max(10, this.#ms / 4)));
    this.#timer.unref();
  }

  #check(): void {
    const at = performance.now();
    for (const [res, last] of this.#lastProgress) {
      // Written but not yet accepted by the socket, in the body or after end().
      const waiting = res.writableNeedDrain || (res.writableEnded && !res.writableFinished);
      if (!waiting) {
        this.#lastProgress.set(res, at);
      } else if (at - last >= this.#ms) {
        this.#lastProgress.delete(res);
        this.#onStall(res);
      }
    }
    if (this.#lastProgress.size === 0) this.#stop();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

const EXHAUSTION_CODES: ReadonlySet<string> = new Set([
  "EMFILE",
  "ENFILE",
  "ENOMEM",
  "ENOBUFS",
  "EAGAIN",
  "ERR_OUT_OF_MEMORY",
]);

const ABORT_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_STREAM_DESTROYED",
  "ABORT_ERR",
]);

function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  let current = error;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/**
 * A retryable `503` for an error caused by running out of descriptors or memory (anywhere in
 * its `cause` chain), else `undefined`.
 * @internal
 */
export function resourceExhaustion(error: unknown): MediaError | undefined {
  if (!codesOf(error).some((code) => EXHAUSTION_CODES.has(code))) return undefined;
  return new MediaError("M_UNKNOWN", "The server is temporarily out of resources; retry later", {
    status: 503,
    retryAfterMs: RESOURCE_RETRY_MS,
    cause: error,
  });
}

/**
 * True when a failure is the client going away (its socket is gone, or the error says so),
 * which is routine and not a server error.
 * @internal
 */
export function isClientAbort(req: IncomingMessage, res: ServerResponse, error: unknown): boolean {
  if (res.writableFinished) return false;
  if (res.destroyed || req.socket?.destroyed === true) return true;
  return codesOf(error).some((code) => ABORT_CODES.has(code));
}
