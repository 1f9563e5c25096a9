// Loopback-only fixtures for the preview tests.
import http from "node:http";
import net from "node:net";

/**
 * A safety net, not a mock: records every TCP dial this process makes and refuses any
 * destination outside loopback, so a guard bug can never send a packet off the machine.
 * Tests assert on `dials` to prove which addresses were (not) dialled.
 */
export const dials: string[] = [];
// eslint-disable-next-line @typescript-eslint/unbound-method -- re-applied with the right `this` below
const originalConnect = net.Socket.prototype.connect;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|localhost)$/;
type ConnectArgs = Parameters<typeof originalConnect>;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]): net.Socket {
  // net.connect() passes its normalised [options, callback] array as the first argument.
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  let host: string | undefined;
  if (first !== null && typeof first === "object") {
    const opts = first as { host?: string; path?: string };
    host = opts.path === undefined ? (opts.host ?? "localhost") : undefined;
  } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    host = typeof args[1] === "string" ? args[1] : "localhost";
  }
  if (host !== undefined) {
    dials.push(host);
    if (!LOOPBACK.test(host)) {
      const error = new Error(`test safety net: refused a dial to non-loopback ${host}`);
      process.nextTick(() => this.destroy(error));
      return this;
    }
  }
  return originalConnect.apply(this, args as ConnectArgs);
};

/** Listeners on 127.0.0.1 and [::1] (same port) that only count connections. */
export interface CountingListener {
  port: number;
  /** Connections accepted so far, on either address. */
  readonly connections: number;
  close(): Promise<void>;
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host, ipv6Only: host.includes(":") }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export async function countingListener(): Promise<CountingListener> {
  for (let attempt = 0; ; attempt++) {
    let connections = 0;
    const sockets = new Set<net.Socket>();
    const onConnection = (socket: net.Socket): void => {
      connections++;
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.destroy();
    };
    const v4 = net.createServer(onConnection);
    const v6 = net.createServer(onConnection);
    await listen(v4, 0, "127.0.0.1");
    const port = (v4.address() as net.AddressInfo).port;
    try {
      await listen(v6, port, "::1");
    } catch (error) {
      v4.close();
      if (attempt > 20) throw error;
      continue;
    }
    return {
      port,
      get connections() {
        return connections;
      },
      close: async () => {
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise((r) => v4.close(r)), new Promise((r) => v6.close(r))]);
      },
    };
  }
}

/** A loopback HTTP server whose handler is given per test; counts connections and requests. */
export interface TestServer {
  port: number;
  /** `http://HOST:PORT` (`127.0.0.1` unless another loopback host was asked for). */
  origin: string;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

export async function httpServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  /** A loopback address: 127.0.0.2, 127.0.0.3… give tests distinct hosts. */
  host = "127.0.0.1",
): Promise<TestServer> {
  if (!LOOPBACK.test(host)) throw new Error(`test servers listen on loopback only, not ${host}`);
  const server = http.createServer((req, res) => {
    state.requests.push(req.url ?? "");
    handler(req, res);
  });
  const sockets = new Set<net.Socket>();
  const state: TestServer = {
    port: 0,
    origin: "",
    connections: 0,
    requests: [],
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  server.on("connection", (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await listen(server, 0, host);
  state.port = (server.address() as net.AddressInfo).port;
  state.origin = `http://${host}:${state.port}`;
  return state;
}

/** Only loopback 127.0.0.1 reachable: what tests that need a local server pass. */
export const LOOPBACK_ONLY = ["127.0.0.1/32"] as const;

/** A stub resolver from a table; records every name it was asked for. */
export function stubResolver(table: Record<string, string[] | (() => string[])>): {
  lookup: (hostname: string) => Promise<Array<{ address: string; family: number }>>;
  calls: string[];
} {
  const calls: string[] = [];
  return {
    calls,
    lookup: (hostname: string) => {
      calls.push(hostname);
      const entry = table[hostname];
      const addresses = typeof entry === "function" ? entry() : entry;
      if (addresses === undefined) {
        return Promise.reject(
          Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }),
        );
      }
      return Promise.resolve(addresses.map((address) => ({ address, family: net.isIP(address) })));
    },
  };
}
