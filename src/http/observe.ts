// One event per finished (or abandoned) request, for metrics: route, method, status, time and
// the bytes that crossed the socket. Nothing is measured while nobody subscribes.
import { channel } from "node:diagnostics_channel";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The `node:diagnostics_channel` name {@link MediaResponseEvent}s are published on, once per
 * request the handler answered (including refusals), when the response closes.
 *
 * @example
 * ```ts
 * import { subscribe } from "node:diagnostics_channel";
 * import { HTTP_RESPONSE_CHANNEL, type MediaResponseEvent } from "matrix-media-kit/http";
 *
 * subscribe(HTTP_RESPONSE_CHANNEL, (message) => {
 *   const { route, status, durationMs } = message as MediaResponseEvent;
 *   console.log(route, status, durationMs);
 * });
 * ```
 */
export const HTTP_RESPONSE_CHANNEL = "matrix-media-kit:http:response";

/**
 * What {@link HTTP_RESPONSE_CHANNEL} carries. Labels only: never a media ID, user or URL.
 */
export interface MediaResponseEvent {
  /** The route's name (`download`, `upload`…), or `undefined` for an unrecognised path. */
  route: string | undefined;
  /** The API family: `client`, `legacy`, `admin` or `federation`. */
  api: string;
  method: string;
  /** The status sent (the last one set when the client went away first). */
  status: number;
  durationMs: number;
  /**
   * Request body bytes: the `Content-Length` of a body read to its end, else what the socket
   * read while the request was served.
   */
  bytesIn: number;
  /** Bytes written to the socket while serving the request (headers included). */
  bytesOut: number;
  /** False when the connection closed before the response was complete. */
  completed: boolean;
}

const responseChannel = channel(HTTP_RESPONSE_CHANNEL);

/**
 * Publishes one {@link MediaResponseEvent} when `res` closes, if anyone listens.
 * @internal
 */
export function observeResponse(
  req: IncomingMessage,
  res: ServerResponse,
  api: string,
  route: string | undefined,
): void {
  if (!responseChannel.hasSubscribers) return;
  const started = performance.now();
  const socket = req.socket;
  const readAtStart = socket.bytesRead;
  const writtenAtStart = socket.bytesWritten;
  res.once("close", () => {
    const event: MediaResponseEvent = {
      route,
      api,
      method: req.method ?? "GET",
      status: res.statusCode,
      durationMs: performance.now() - started,
      bytesIn: bodyBytes(req, socket.bytesRead - readAtStart),
      bytesOut: Math.max(0, socket.bytesWritten - writtenAtStart),
      completed: res.writableFinished,
    };
    responseChannel.publish(event);
  });
}

function bodyBytes(req: IncomingMessage, socketDelta: number): number {
  const declared = Number(req.headers["content-length"]);
  if (req.complete && Number.isSafeInteger(declared) && declared >= 0) return declared;
  return Math.max(0, socketDelta);
}
