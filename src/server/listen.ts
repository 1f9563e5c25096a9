// The HTTP server: `/healthz`, the media handler, and a Matrix 404 for everything else.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { applyServerTimeouts, type ServerTimeouts } from "../http/index.js";
import type { ServerLogger } from "./logger.js";

/** The media handler's shape: resolves to false when the request is not a media route. */
type MediaRequestHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
) => Promise<boolean>;

const NOT_FOUND = JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
const INTERNAL = JSON.stringify({ errcode: "M_UNKNOWN", error: "Internal server error" });

/** A listening HTTP server. @internal */
export interface ListeningServer {
  /** `http://host:port` with the bound port (port 0 in the config picks a free one). */
  url: string;
  close(): Promise<void>;
}

/** @internal */
export async function listen(
  handler: MediaRequestHandler,
  address: { host: string; port: number },
  timeouts: Partial<ServerTimeouts>,
  logger: ServerLogger,
): Promise<ListeningServer> {
  const server = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    handler(req, res).then(
      (handled) => {
        if (handled) return;
        res
          .writeHead(404, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(NOT_FOUND),
          })
          .end(NOT_FOUND);
      },
      (err: unknown) => {
        logger.error("request failed", { err: String(err) });
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(INTERNAL);
      },
    );
  });
  // Slow or idle clients must not hold sockets forever (a whole request, headers, keep-alive).
  applyServerTimeouts(server, timeouts);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
