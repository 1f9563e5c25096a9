// The node:http server's own timeouts. The handler bounds bodies and responses once a request
// is routed; these bound what happens before (slow headers) and around it (whole requests,
// idle keep-alive connections). node:http's requestTimeout of 0 lets a client hold a socket
// forever.
import type { Server } from "node:http";
import { ConfigError } from "../errors.js";

/** Timeouts {@link applyServerTimeouts} sets on a `node:http` server, in milliseconds. */
export interface ServerTimeouts {
  /**
   * Time to receive the request headers (`server.headersTimeout`).
   * @defaultValue 30_000
   */
  headersTimeoutMs: number;
  /**
   * Time to receive a whole request, body included (`server.requestTimeout`): long enough for
   * the largest upload on a slow link (50 MiB at 1 Mbit/s is about 7 minutes). Never 0.
   * @defaultValue 600_000
   */
  requestTimeoutMs: number;
  /**
   * How long an idle kept-alive connection stays open (`server.keepAliveTimeout`).
   * @defaultValue 5_000
   */
  keepAliveTimeoutMs: number;
}

/**
 * Defaults of {@link ServerTimeouts}.
 *
 * @example
 * ```ts
 * applyServerTimeouts(server, { ...DEFAULT_SERVER_TIMEOUTS, requestTimeoutMs: 1_800_000 });
 * ```
 */
export const DEFAULT_SERVER_TIMEOUTS: Readonly<ServerTimeouts> = Object.freeze({
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 600_000,
  keepAliveTimeoutMs: 5_000,
});

const MAX_TIMER_MS = 2 ** 31 - 1;

function checkTimeout(options: Partial<ServerTimeouts>, name: keyof ServerTimeouts): number {
  const value = options[name] ?? DEFAULT_SERVER_TIMEOUTS[name];
  if (Number.isInteger(value) && value >= 1 && value <= MAX_TIMER_MS) return value;
  throw new ConfigError(
    `applyServerTimeouts: expected options.${name} to be an integer 1–${MAX_TIMER_MS} but received ${JSON.stringify(value) ?? String(value)}`,
    { option: name },
  );
}

/**
 * Sets `headersTimeout`, `requestTimeout` and `keepAliveTimeout` of a `node:http` server that
 * serves the media handler (the handler's own `uploadIdleTimeoutMs` and `writeStallTimeoutMs`
 * bound bodies once routed). node:http checks the first two every `connectionsCheckingInterval`
 * (30 s unless the server was created with another).
 *
 * @throws {@link ConfigError} when a value is not an integer 1–2^31-1, or `headersTimeoutMs`
 * exceeds `requestTimeoutMs`.
 *
 * @example
 * ```ts
 * import http from "node:http";
 * import { applyServerTimeouts, createMediaHandler } from "matrix-media-kit/http";
 *
 * const server = http.createServer(async (req, res) => {
 *   if (!(await handle(req, res))) res.writeHead(404).end();
 * });
 * applyServerTimeouts(server, { requestTimeoutMs: 900_000 });
 * server.listen(8008);
 * ```
 */
export function applyServerTimeouts(
  server: Server,
  options: Partial<ServerTimeouts> = {},
): ServerTimeouts {
  const timeouts: ServerTimeouts = {
    headersTimeoutMs: checkTimeout(options, "headersTimeoutMs"),
    requestTimeoutMs: checkTimeout(options, "requestTimeoutMs"),
    keepAliveTimeoutMs: checkTimeout(options, "keepAliveTimeoutMs"),
  };
  if (timeouts.headersTimeoutMs > timeouts.requestTimeoutMs) {
    throw new ConfigError(
      `applyServerTimeouts: expected options.headersTimeoutMs (${timeouts.headersTimeoutMs}) to be at most requestTimeoutMs (${timeouts.requestTimeoutMs})`,
      { option: "headersTimeoutMs" },
    );
  }
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.requestTimeout = timeouts.requestTimeoutMs;
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  return timeouts;
}
