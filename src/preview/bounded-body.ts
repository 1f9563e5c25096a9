// The response of a SafeFetch: a body bounded by the byte cap (counted on the wire) and by
// the call's one deadline, which keeps running until the body is read or discarded.
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { SafeFetchError } from "./safe-fetch-error.js";
import type { SafeResponse } from "./safe-fetch-options.js";

/** The deadline of one call, from the first hop to the end of the body. @internal */
export interface CallDeadline {
  readonly timer: NodeJS.Timeout;
  readonly error: SafeFetchError;
  /** Aborted when the deadline passes. */
  readonly expired: AbortSignal;
  /** `expired` combined with the caller's signal: what requests are made with. */
  readonly signal: AbortSignal;
  /** Set once a body exists, so the deadline can destroy it. */
  onTimeout?: () => void;
}

const ignore = (): void => {};

/** Destroys a body nobody will read, without an unhandled 'error' event. @internal */
export function discard(body: Readable): void {
  body.on("error", ignore);
  body.destroy();
}

/** What {@link boundedResponse} needs besides undici's response. @internal */
export interface BoundedResponseContext {
  url: string;
  redirects: readonly string[];
  maxBytes: number;
  deadline: CallDeadline;
  /** Maps a stream failure to the guard's error (timeout, caller abort, too-large, network). */
  fail: (error: unknown) => never;
}

/** Wraps undici's response in a {@link SafeResponse}. @internal */
export function boundedResponse(
  res: Dispatcher.ResponseData,
  context: BoundedResponseContext,
): SafeResponse {
  const { deadline, maxBytes, fail } = context;
  const source = res.body;
  source.on("error", ignore);
  deadline.onTimeout = () => source.destroy(deadline.error);
  let consumed = false;
  let stream: Readable | undefined;

  async function* bounded(): AsyncGenerator<Buffer> {
    let received = 0;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > maxBytes) throw new SafeFetchError("too-large");
        yield chunk;
      }
      clearTimeout(deadline.timer);
    } catch (error) {
      fail(error);
    } finally {
      clearTimeout(deadline.timer);
      discard(source);
    }
  }
  const take = (): AsyncGenerator<Buffer> => {
    if (consumed) throw new TypeError("The response body was already consumed");
    consumed = true;
    return bounded();
  };
  const buffer = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of take()) chunks.push(chunk);
    return Buffer.concat(chunks);
  };
  return {
    status: res.statusCode,
    headers: res.headers,
    url: context.url,
    redirects: context.redirects,
    get body(): Readable {
      stream ??= Readable.from(take(), { objectMode: false });
      return stream;
    },
    buffer,
    async arrayBuffer(): Promise<ArrayBuffer> {
      const b = await buffer();
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
    async text(): Promise<string> {
      return (await buffer()).toString("utf8");
    },
    cancel(): void {
      consumed = true;
      clearTimeout(deadline.timer);
      discard(source);
    },
  };
}
