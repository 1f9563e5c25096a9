// Loopback federation peers for the transport tests: one throwaway CA, HTTPS servers on
// 127.0.0.2-127.0.0.6 sharing one port number, a name table for the guard's lookup and a
// scripted SRV resolver. 127.0.0.7 is a "private" address the guard must refuse.
import https from "node:https";
import type http from "node:http";
import type net from "node:net";
import type tls from "node:tls";
import { dials } from "../../preview/helpers.js";
import { createTestCertificates } from "../../cache/certs.js";

export { dials };

export const PEERS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"] as const;
/** Only the peers: 127.0.0.7 and everything else stays denied by the default list. */
export const PEER_RANGES = PEERS.map((ip) => `${ip}/32`);
export const NAMES: Record<string, string> = {
  "b.test": "127.0.0.2",
  "delegated.test": "127.0.0.3",
  "srv.test": "127.0.0.4",
  "media.test": "127.0.0.5",
  "legacy.test": "127.0.0.6",
  "private.test": "127.0.0.7",
};

export const lookup = async (hostname: string) => {
  const ip = NAMES[hostname];
  if (ip === undefined)
    throw Object.assign(new Error(`no such test host ${hostname}`), { code: "ENOTFOUND" });
  return [{ address: ip, family: 4 }];
};

/** One request as a server saw it. */
export interface SeenRequest {
  ip: string;
  host: string | undefined;
  servername: string | false | null | undefined;
  path: string;
  authorization: string | undefined;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, ip: string) => void;

export interface Peers {
  port: number;
  ca: Buffer;
  requests: SeenRequest[];
  /** Connections accepted per IP. */
  connections: Map<string, number>;
  /** Sockets still open, on every peer. */
  readonly openSockets: number;
  handler: Handler;
  /** Starts an extra server on `ip:port` with the same handler; null when the port is taken. */
  listenExtra(ip: string, port: number): Promise<(() => Promise<void>) | null>;
  close(): Promise<void>;
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export async function startPeers(): Promise<Peers> {
  const certs = await createTestCertificates({
    sans: [...Object.keys(NAMES).map((n) => `DNS:${n}`), ...PEERS.map((ip) => `IP:${ip}`)],
  });
  await certs.cleanup();
  const { key, cert, ca } = certs;
  const sockets = new Set<net.Socket>();
  const servers: https.Server[] = [];
  const peers: Peers = {
    port: 0,
    ca,
    requests: [],
    connections: new Map(),
    get openSockets() {
      return sockets.size;
    },
    handler: (_req, res) => {
      res.writeHead(404).end();
    },
    listenExtra: async (ip, port) => {
      const server = create(ip);
      try {
        await listen(server, port, ip);
      } catch {
        return null;
      }
      return async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      };
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
  const create = (ip: string): https.Server => {
    const server = https.createServer({ key, cert }, (req, res) => {
      peers.requests.push({
        ip,
        host: req.headers.host,
        servername: (req.socket as tls.TLSSocket).servername,
        path: req.url ?? "",
        authorization: req.headers.authorization,
      });
      peers.handler(req, res, ip);
    });
    server.on("secureConnection", (socket) => {
      peers.connections.set(ip, (peers.connections.get(ip) ?? 0) + 1);
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    servers.push(server);
    return server;
  };
  for (let attempt = 0; ; attempt++) {
    const first = create(PEERS[0]);
    await listen(first, 0, PEERS[0]);
    const port = (first.address() as net.AddressInfo).port;
    try {
      for (const ip of PEERS.slice(1)) await listen(create(ip), port, ip);
      peers.port = port;
      return peers;
    } catch (error) {
      await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
      if (attempt > 20) throw error;
    }
  }
}

/** Total accepted connections. */
export function totalConnections(peers: Peers): number {
  let n = 0;
  for (const v of peers.connections.values()) n += v;
  return n;
}

/** Waits (generously) until every peer socket is closed. */
export async function socketsClosed(peers: Peers, boundMs = 10_000): Promise<boolean> {
  const until = Date.now() + boundMs;
  while (peers.openSockets > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return peers.openSockets === 0;
}

/** A scripted SRV resolver: name → records; counts calls. */
export function srvResolver(
  table: Record<string, Array<{ name: string; port: number; priority?: number; weight?: number }>>,
) {
  const calls: string[] = [];
  return {
    calls,
    resolveSrv: async (name: string) => {
      calls.push(name);
      return (table[name] ?? []).map((r) => ({ priority: 0, weight: 0, ...r }));
    },
  };
}

/** A federation multipart body. */
export function multipart(
  boundary: string,
  json: string,
  partHeaders: string,
  body: Buffer,
): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Type: application/json\r\n\r\n${json}\r\n--${boundary}\r\n${partHeaders}\r\n\r\n`,
    ),
    body,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}
