// A pull reader over a byte stream for the multipart parser: reads up to a delimiter with a
// cap (never buffering more than the cap plus one chunk), or streams up to a delimiter while
// holding back only the bytes that could start it.
import { Readable } from "node:stream";
import { MediaError } from "../errors.js";

/** A malformed or truncated multipart body. @internal */
export function multipartError(detail: string): MediaError {
  return new MediaError(
    "M_UNKNOWN",
    `Invalid multipart response from the remote server: ${detail}`,
    {
      status: 502,
    },
  );
}

/** @internal */
export class ByteReader {
  private buf: Buffer;
  private ended = false;
  private closed = false;
  private readonly iterator: AsyncIterator<unknown>;

  constructor(
    private readonly source: Readable,
    initial: Buffer = Buffer.alloc(0),
  ) {
    this.buf = initial;
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Reads one more chunk; false at the end of the source. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done === true) {
      this.ended = true;
      return false;
    }
    const chunk = next.value;
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    this.buf = this.buf.length === 0 ? bytes : Buffer.concat([this.buf, bytes]);
    return true;
  }

  /** At least `n` bytes buffered (fewer only at the end); returns a view of the first `n`. */
  async peek(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.fill()));
    return this.buf.subarray(0, n);
  }

  /** The bytes before `delim` (which is consumed); refused past `max` bytes or at the end. */
  async readUntil(delim: Buffer, max: number, what: string): Promise<Buffer> {
    let from = 0;
    for (;;) {
      const at = this.buf.indexOf(delim, from);
      if (at !== -1 && at <= max) {
        const before = this.buf.subarray(0, at);
        this.buf = this.buf.subarray(at + delim.length);
        return before;
      }
      if (at > max || this.buf.length > max + delim.length) {
        throw multipartError(`${what} is larger than ${max} bytes`);
      }
      from = Math.max(0, this.buf.length - delim.length + 1);
      if (!(await this.fill())) throw multipartError(`the body ends inside ${what}`);
    }
  }

  /** Drops `n` buffered bytes. */
  skip(n: number): void {
    this.buf = this.buf.subarray(n);
  }

  /**
   * A stream of the bytes before `delim`; `atEnd` runs after the delimiter was consumed and
   * may throw to fail the stream (e.g. a missing closing delimiter).
   */
  streamUntil(delim: Buffer, atEnd: () => Promise<void>): Readable {
    let busy = false;
    const pump = async (out: Readable): Promise<void> => {
      for (;;) {
        const at = this.buf.indexOf(delim);
        if (at !== -1) {
          const last = this.buf.subarray(0, at);
          this.buf = this.buf.subarray(at + delim.length);
          if (last.length > 0) out.push(last);
          await atEnd();
          this.close();
          out.push(null);
          return;
        }
        // Everything but a tail that could be the start of the delimiter is body.
        const safe = this.buf.length - (delim.length - 1);
        if (safe > 0) {
          const chunk = this.buf.subarray(0, safe);
          this.buf = this.buf.subarray(safe);
          if (!out.push(chunk)) return;
          continue;
        }
        if (!(await this.fill())) throw multipartError("the body ends before the closing boundary");
      }
    };
    const out: Readable = new Readable({
      read: () => {
        if (busy) return;
        busy = true;
        pump(out).then(
          () => {
            busy = false;
          },
          (error: unknown) => {
            busy = false;
            out.destroy(error as Error);
          },
        );
      },
      destroy: (error, callback) => {
        this.close();
        callback(error);
      },
    });
    return out;
  }

  /** Releases the source (destroying it when it was not read to its end). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buf = Buffer.alloc(0);
    this.source.on("error", () => {});
    this.source.destroy();
  }
}
