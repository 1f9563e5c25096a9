// How remote answers become the kit's errors, and the byte-counted media stream handed to
// callers. Every failure of a download is a MediaError: 4xx only for our caller's mistakes
// and a remote "not found"; 502 for what the remote did wrong; 504 for deadlines.
import { PassThrough, Transform, pipeline } from "node:stream";
import type { Readable } from "node:stream";
import { MediaError } from "../errors.js";
import { SafeFetchError } from "../preview/safe-fetch-error.js";
import type { SafeResponse } from "../preview/safe-fetch-options.js";

/** Bytes of a remote error body read to find its errcode. @internal */
export const ERROR_BODY_BYTES = 64 * 1024;

/**
 * A failure of an outbound request as the caller's error: the caller's own abort reason as
 * is; a deadline 504; a body over the cap 502 `M_TOO_LARGE`; a guard refusal, DNS or
 * network failure 502 (the guard's reason stays on `cause`); other MediaErrors unchanged.
 * @internal
 */
export function outboundError(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && error === signal.reason) return error;
  if (error instanceof SafeFetchError) {
    if (error.reason === "timeout") {
      return new MediaError("M_UNKNOWN", "Timed out waiting for the remote server", {
        status: 504,
        cause: error,
      });
    }
    if (error.reason === "too-large") {
      return new MediaError("M_TOO_LARGE", "The remote media is larger than allowed", {
        status: 502,
        cause: error,
      });
    }
    return new MediaError("M_UNKNOWN", "Could not reach the remote server", {
      status: 502,
      cause: error,
    });
  }
  if (MediaError.is(error)) return error;
  return new MediaError("M_UNKNOWN", "Could not reach the remote server", {
    status: 502,
    cause: error,
  });
}

/** A remote error response: its status and errcode (when its body is Matrix JSON). @internal */
export interface RemoteErrorInfo {
  status: number;
  errcode: string | undefined;
}

/** Reads (bounded) the errcode of a non-2xx response and releases it. @internal */
export async function remoteErrorInfo(res: SafeResponse): Promise<RemoteErrorInfo> {
  let errcode: string | undefined;
  try {
    const json: unknown = JSON.parse(await res.text());
    const code = (json as { errcode?: unknown } | null)?.errcode;
    if (typeof code === "string") errcode = code.slice(0, 128);
  } catch {
    // Not JSON (or cut at the cap): no errcode.
  } finally {
    res.cancel();
  }
  return { status: res.status, errcode };
}

/** The spec's "unrecognised endpoint" answer: 404/405 with M_UNRECOGNIZED or without JSON. @internal */
export function isUnrecognized(info: RemoteErrorInfo): boolean {
  return (
    (info.status === 404 || info.status === 405) &&
    (info.errcode === undefined || info.errcode === "M_UNRECOGNIZED")
  );
}

/** The caller's error for a remote error answer. @internal */
export function remoteError(info: RemoteErrorInfo): MediaError {
  if (info.status === 404 && info.errcode === "M_NOT_FOUND") {
    return new MediaError("M_NOT_FOUND", "Media not found on the remote server", { status: 404 });
  }
  if (isUnrecognized(info)) {
    return new MediaError("M_UNKNOWN", "The remote server does not support this request", {
      status: 502,
    });
  }
  return new MediaError("M_UNKNOWN", `The remote server answered ${info.status}`, { status: 502 });
}

/** A 502 for a response that breaks the protocol. @internal */
export function badRemote(message: string): MediaError {
  return new MediaError("M_UNKNOWN", message, { status: 502 });
}

/**
 * The media stream callers get: counts bytes against `maxBytes` (502 `M_TOO_LARGE`) and a
 * declared length (more or fewer bytes are a 502), and runs `release` once however it ends.
 * @internal
 */
export function countedStream(
  source: Readable,
  options: { maxBytes: number; declared: number | undefined; release: () => void },
): Readable {
  let received = 0;
  const { maxBytes, declared } = options;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > maxBytes) {
        callback(
          new MediaError("M_TOO_LARGE", "The remote media is larger than allowed", { status: 502 }),
        );
      } else if (declared !== undefined && received > declared) {
        callback(badRemote("The remote server sent more bytes than it declared"));
      } else {
        callback(null, chunk);
      }
    },
    flush(callback) {
      if (declared !== undefined && received !== declared) {
        callback(badRemote("The remote server sent fewer bytes than it declared"));
      } else {
        callback();
      }
    },
  });
  const out = new PassThrough();
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    options.release();
  };
  pipeline(source, counter, out, (error) => {
    release();
    if (error)
      out.destroy(MediaError.is(error) ? error : (outboundError(error, undefined) as Error));
  });
  out.on("close", release);
  return out;
}
