// The HTTP server: `/healthz` (liveness), `/readyz` (readiness), the media handler, and a
// Matrix 404 for everything else. Closing drains: the port stops accepting, idle keep-alive
// connections close at once, in-flight requests get a deadline, then their sockets are
// destroyed (an interrupted upload's cleanup runs before the stores behind it close).
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { ConfigError } from "../index.js";
import { applyServerTimeouts, type ServerTimeouts } from "../http/index.js";
import type { ServerLogger } from "./logger.js";
import type { Readiness } from "./readiness.js";
import { withRequestId } from "./request-id.js";
import { InFlight } from "./shutdown.js";

/** The media handler's shape: resolves to false when the request is not a media route. */
type MediaRequestHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
) => Promise<boolean>;

const NOT_FOUND = JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
const INTERNAL = JSON.stringify({ errcode: "M_UNKNOWN", error: "Internal server error" });

/** What the listener serves beside the media handler. @internal */
export interface ListenOptions {
  /** Certificate and key files: HTTPS instead of HTTP. */
  tls?: { certFile: string; keyFile: string } | undefined;
  /** The body of `GET /_matrix/key/v2/server`, when this server publishes its key. */
  serverKeys?: (() => unknown) | undefined;
  /** The dependency checks of `/readyz` (without: ready once started). */
  ready?: (() => Promise<Readiness>) | undefined;
}

/** After the drain deadline, how long aborted handlers get to clean up. */
const ABORT_GRACE_MS = 5_000;

function sendJson(res: http.ServerResponse, status: number, body: string): void {
  res
    .writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    })
    .end(body);
}

function readTls(tls: NonNullable<ListenOptions["tls"]>): { cert: Buffer; key: Buffer } {
  const read = (file: string, key: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`Cannot read ${key} ${file}: ${(err as Error).message}`, {
        option: key,
        cause: err,
      });
    }
  };
  return {
    cert: read(tls.certFile, "listen.tls.certFile"),
    key: read(tls.keyFile, "listen.tls.keyFile"),
  };
}

/** A listening HTTP server. @internal */
export interface ListeningServer {
  /** `http(s)://host:port` with the bound port (port 0 in the config picks a free one). */
  url: string;
  /** From now on `/readyz` runs its checks (it answers 503 `starting` until then). */
  setReady(): void;
  /**
   * Drains and closes: `/readyz` answers 503 `draining`, no new connections, idle ones
   * closed, in-flight requests get `drainMs`, then their sockets are destroyed.
   */
  close(drainMs?: number): Promise<void>;
}

/** @internal */
export async function listen(
  handler: MediaRequestHandler,
  address: { host: string; port: number },
  timeouts: Partial<ServerTimeouts>,
  logger: ServerLogger,
  options: ListenOptions = {},
): Promise<ListeningServer> {
  const { tls, serverKeys, ready } = options;
  let state: "starting" | "ready" | "draining" = "starting";
  const inFlight = new InFlight();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (req.url === "/readyz") {
      answerReadiness(res, state, ready);
      return;
    }
    // A kept-alive connection ends after the response it is carrying when draining.
    if (state === "draining") res.setHeader("connection", "close");
    const path = req.url?.split("?")[0];
    if (serverKeys && (path === "/_matrix/key/v2/server" || path === "/_matrix/key/v2/server/")) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        sendJson(
          res,
          405,
          JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Method not allowed" }),
        );
        return;
      }
      sendJson(res, 200, JSON.stringify(serverKeys()));
      return;
    }
    const work = withRequestId(req, res, () =>
      handler(req, res).then(
        (handled) => {
          if (!handled) sendJson(res, 404, NOT_FOUND);
        },
        (err: unknown) => {
          logger.error("request failed", { err: String(err) });
          if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
          res.end(INTERNAL);
        },
      ),
    );
    inFlight.track(res, work);
  };
  const server = tls ? https.createServer(readTls(tls), onRequest) : http.createServer(onRequest);
  // Slow or idle clients must not hold sockets forever (a whole request, headers, keep-alive).
  applyServerTimeouts(server, timeouts);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  let closing: Promise<void> | undefined;
  const drainAndClose = async (drainMs: number): Promise<void> => {
    state = "draining";
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    inFlight.closeAfterResponses();
    if (inFlight.size > 0) logger.info("draining", { inFlight: inFlight.size, drainMs });
    if (!(await inFlight.settled(drainMs))) {
      logger.warn("drain deadline passed: aborting requests", { inFlight: inFlight.size });
    }
    server.closeAllConnections();
    await inFlight.settled(ABORT_GRACE_MS);
    await closed;
  };
  return {
    url: `${tls ? "https" : "http"}://${host}:${port}`,
    setReady: () => {
      if (state === "starting") state = "ready";
    },
    close: (drainMs = 0) => (closing ??= drainAndClose(drainMs)),
  };
}

function answerReadiness(
  res: http.ServerResponse,
  state: "starting" | "ready" | "draining",
  ready: ListenOptions["ready"],
): void {
  const send = (answer: Readiness) =>
    sendJson(
      res,
      answer.ready ? 200 : 503,
      JSON.stringify({ ready: answer.ready, failed: answer.failed }),
    );
  if (state !== "ready") {
    send({ ready: false, failed: [{ check: state, error: `the server is ${state}` }] });
    return;
  }
  if (!ready) {
    send({ ready: true, failed: [] });
    return;
  }
  ready().then(send, (err: unknown) =>
    send({ ready: false, failed: [{ check: "readiness", error: String(err) }] }),
  );
}
