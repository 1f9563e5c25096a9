// Test helpers: a throwaway CA whose server certificate covers 127.0.0.2–127.0.0.5, HTTPS
// key servers on those addresses, and a FetchJson that maps server names to them.
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { FetchJson } from "../../../src/federation/index.js";
import { createTestCertificates as createCertificateFiles } from "../../cache/certs.js";

export interface TestCertificates {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** The shared throwaway CA, with a server certificate for 127.0.0.2–127.0.0.5 (in memory). */
export async function createTestCertificates(): Promise<TestCertificates> {
  const certs = await createCertificateFiles({
    sans: ["IP:127.0.0.2", "IP:127.0.0.3", "IP:127.0.0.4", "IP:127.0.0.5"],
  });
  await certs.cleanup();
  return { cert: certs.cert, key: certs.key, ca: certs.ca };
}

export interface KeyServer {
  host: string;
  port: number;
  /** Requests received, by path. */
  requests: string[];
  /** What the server answers (replaceable between tests). */
  respond: (path: string) => { status?: number; body: unknown };
  close(): Promise<void>;
}

/** An HTTPS server on `host` answering JSON from `respond`. */
export async function startKeyServer(
  host: string,
  certs: TestCertificates,
  respond: KeyServer["respond"],
): Promise<KeyServer> {
  const state = { requests: [] as string[], respond };
  const server = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
    state.requests.push(req.url ?? "");
    const answer = state.respond(req.url ?? "");
    res.writeHead(answer.status ?? 200, { "content-type": "application/json" });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host,
    port,
    get requests() {
      return state.requests;
    },
    set requests(value) {
      state.requests = value;
    },
    get respond() {
      return state.respond;
    },
    set respond(fn) {
      state.respond = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A FetchJson over HTTPS to loopback servers, by server name; refuses bodies over 64 KiB. */
export function loopbackFetchJson(
  ca: Buffer,
  servers: Record<string, { host: string; port: number }>,
): FetchJson {
  return (destination, requestPath, { signal }) =>
    new Promise((resolve, reject) => {
      const target = servers[destination];
      if (target === undefined) return reject(new Error(`unknown test server ${destination}`));
      const req = https.get(
        { host: target.host, port: target.port, path: requestPath, ca, signal, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > 65_536) req.destroy(new Error("response too large"));
            else chunks.push(chunk);
          });
          res.on("end", () => {
            if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
    });
}
