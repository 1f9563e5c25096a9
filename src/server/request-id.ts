// A request ID per request of the media listener: the caller's `X-Request-Id` when it is sane,
// else a fresh UUID; echoed in the response and attached to every log line of the request.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const context = new AsyncLocalStorage<string>();

/** The request ID of the request being served, if any. @internal */
export function currentRequestId(): string | undefined {
  return context.getStore();
}

/**
 * Picks the request's ID, sets `X-Request-Id` on the response and runs `serve` with it as
 * the current request ID (so log lines written anywhere below carry it).
 * @internal
 */
export function withRequestId<T>(req: IncomingMessage, res: ServerResponse, serve: () => T): T {
  const incoming = req.headers["x-request-id"];
  const id = typeof incoming === "string" && SANE_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader("X-Request-Id", id);
  return context.run(id, serve);
}
