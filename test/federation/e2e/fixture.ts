// Standalone media servers that federate with each other over real HTTPS on loopback: each
// has its own server name (an IP literal with port), signing key and listener; one throwaway
// CA signs a certificate for 127.0.0.2–127.0.0.5.
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import {
  formatSigningKey,
  generateSigningKey,
  type SigningKey,
} from "../../../src/federation/index.js";
import type { MediaServer } from "../../../src/server/index.js";
import { freePort } from "../../harness/net.js";
import { tempDir } from "../../harness/tmp.js";
import { resolveConfig, startServer } from "../../server/helpers.js";
import { createTestCertificates } from "../../cache/certs.js";

export const PEER_RANGES = ["127.0.0.2/32", "127.0.0.3/32", "127.0.0.4/32", "127.0.0.5/32"];

export interface Tls {
  dir: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  ca: Buffer;
  /** A fetch that trusts the test CA (clients of the HTTPS servers). */
  fetch: typeof undiciFetch;
  close(): Promise<void>;
}

export async function createTls(): Promise<Tls> {
  const dir = await tempDir("mmk-fed-e2e-");
  const certs = await createTestCertificates({
    sans: PEER_RANGES.map((r) => `IP:${r.split("/")[0]}`),
  });
  const agent = new Agent({ connect: { ca: certs.ca } });
  const fetch = ((
    input: Parameters<typeof undiciFetch>[0],
    init?: Parameters<typeof undiciFetch>[1],
  ) => undiciFetch(input, { ...init, dispatcher: agent })) as typeof undiciFetch;
  return {
    dir: dir.path,
    certFile: certs.certFile,
    keyFile: certs.keyFile,
    caFile: certs.caFile,
    ca: certs.ca,
    fetch,
    async close() {
      await agent.close();
      await certs.cleanup();
      await dir.cleanup();
    },
  };
}

export interface PeerSpec {
  ip: string;
  port?: number;
  /** Extra config merged over the defaults (datastores, metadata, cache, federation…). */
  extra?: Record<string, unknown>;
  signingKey?: SigningKey;
}

/** The raw config of one federating server (before resolveConfig). */
export async function peerConfig(tls: Tls, spec: PeerSpec & { port: number }) {
  const serverName = `${spec.ip}:${spec.port}`;
  const key = spec.signingKey ?? generateSigningKey();
  const keyFile = path.join(tls.dir, `${spec.ip}-${spec.port}.signing.key`);
  await writeFile(keyFile, formatSigningKey(key));
  const extra = spec.extra ?? {};
  const federation = (extra.federation ?? {}) as Record<string, unknown>;
  return {
    serverName,
    key,
    raw: {
      serverName,
      listen: {
        host: spec.ip,
        port: spec.port,
        tls: { certFile: tls.certFile, keyFile: tls.keyFile },
      },
      datastores: [
        {
          id: "disk",
          type: "fs",
          kinds: ["local", "remote", "thumbnail", "preview"],
          root: `${spec.ip}-${spec.port}/media`,
        },
      ],
      metadata: { embedded: `${spec.ip}-${spec.port}/metadata` },
      auth: {
        tokens: {
          [`token-${spec.ip}`]: `@alice:${serverName}`,
          [`admin-${spec.ip}`]: `@admin:${serverName}`,
        },
        admins: [`@admin:${serverName}`],
      },
      thumbnails: { enabled: true },
      ...extra,
      federation: {
        enabled: true,
        signingKeyPath: keyFile,
        allowRanges: PEER_RANGES,
        caFile: tls.caFile,
        ...federation,
      },
    },
  };
}

export interface Peer {
  serverName: string;
  url: string;
  token: string;
  key: SigningKey;
  server: MediaServer;
}

export async function startPeer(tls: Tls, spec: PeerSpec): Promise<Peer> {
  const port = spec.port ?? (await freePort());
  const { serverName, key, raw } = await peerConfig(tls, { ...spec, port });
  const server = await startServer(resolveConfig(raw, {}, tls.dir));
  return { serverName, url: server.url, token: `token-${spec.ip}`, key, server };
}

/** Counts the federation requests each server answered, by route, through diagnostics_channel. */
export function countFederationRequests(): { count(route: string): number; close(): void } {
  const counts = new Map<string, number>();
  const onRequest = (message: unknown) => {
    const { route } = message as { route: string };
    counts.set(route, (counts.get(route) ?? 0) + 1);
  };
  subscribe("matrix-media-kit:http:request", onRequest);
  return {
    count: (route) => counts.get(route) ?? 0,
    close: () => unsubscribe("matrix-media-kit:http:request", onRequest),
  };
}
