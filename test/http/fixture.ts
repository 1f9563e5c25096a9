// Real components behind the media handler, served by node:http, Express or Koa on loopback.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { readdir } from "node:fs/promises";
import path from "node:path";
import express from "express";
import Koa from "koa";
import { memoryCache } from "../../src/cache/memory.js";
import { fsDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore } from "../../src/metadata/memory.js";
import type { MetadataStore } from "../../src/metadata/types.js";
import { createPreviewFetcher, createSafeFetch } from "../../src/preview/index.js";
import { createThumbnailer } from "../../src/thumbnail/index.js";
import { createMediaRepository } from "../../src/repository/index.js";
import type { MediaRepository, RepositoryLimits } from "../../src/repository/index.js";
import {
  createMediaHandler,
  type MediaHandlerOptions,
  type MediaHandlerStats,
  type MediaUser,
} from "../../src/http/index.js";
import { mediaRouter } from "../../src/adapters/express.js";
import { mediaMiddleware } from "../../src/adapters/koa.js";
import { tempDir } from "../harness/tmp.js";

export const SERVER_NAME = "test.local";
export const TOKENS = { alice: "alice_token", bob: "bob_token", admin: "admin_token" } as const;
const USERS: Record<string, MediaUser> = {
  alice_token: { userId: "@alice:test.local" },
  bob_token: { userId: "@bob:test.local" },
  admin_token: { userId: "@admin:test.local", isAdmin: true },
};

export type Flavor = "node" | "express" | "koa";

/** Counts calls to a real component and remembers the promises of `put`. */
export interface Spy {
  calls: number;
  puts: Array<Promise<unknown>>;
}

function spyOn<T extends object>(target: T, spy: Spy): T {
  return new Proxy(target, {
    get(t, p, r) {
      const value = Reflect.get(t, p, r) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        spy.calls++;
        const out = (value as (...a: unknown[]) => unknown).apply(t, args);
        if (p === "put" && out instanceof Promise) spy.puts.push(out.catch(() => undefined));
        return out;
      };
    },
  });
}

export interface Fixture {
  baseUrl: string;
  repo: MediaRepository;
  cache: ReturnType<typeof memoryCache>;
  metadata: MetadataStore;
  datastoreSpy: Spy;
  metadataSpy: Spy;
  /** Absolute root of the fs datastore. */
  root: string;
  /** Every regular file under the datastore root (temp files included). */
  files(): Promise<string[]>;
  /** The handler's counters (the node flavor only). */
  stats(): MediaHandlerStats;
  close(): Promise<void>;
}

export interface FixtureOptions {
  flavor?: Flavor;
  limits?: Partial<RepositoryLimits>;
  allowRanges?: string[];
  handler?: Partial<MediaHandlerOptions>;
}

async function walk(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

export async function createFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const dir = await tempDir("mmk-http-");
  const root = path.join(dir.path, "media");
  const datastoreSpy: Spy = { calls: 0, puts: [] };
  const metadataSpy: Spy = { calls: 0, puts: [] };
  const datastore: Datastore = spyOn(fsDatastore({ root, fsync: false }), datastoreSpy);
  const realMetadata = memoryMetadataStore();
  const metadata = spyOn(realMetadata, metadataSpy);
  const cache = memoryCache({ maxBytes: 64 * 1024 * 1024 });
  const safeFetch = createSafeFetch({ allowRanges: options.allowRanges ?? [] });
  const repo = createMediaRepository({
    serverName: SERVER_NAME,
    ids: createMediaIdGenerator({ machineId: 7 }),
    datastore,
    metadata,
    cache,
    thumbnailer: createThumbnailer(),
    previews: createPreviewFetcher({ fetch: safeFetch }),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const handlerOptions: MediaHandlerOptions = {
    authenticate: async (_req, { accessToken }) => USERS[accessToken],
    ...options.handler,
  };
  const flavor = options.flavor ?? "node";
  let server: http.Server;
  let stats = (): MediaHandlerStats => {
    throw new Error(`no handler stats with the ${flavor} flavor`);
  };
  if (flavor === "express") {
    const app = express();
    app.use(mediaRouter(repo, handlerOptions));
    app.get("/_matrix/client/versions", (_req, res) => {
      res.json({ versions: ["v1.11", "v1.12"] });
    });
    server = http.createServer(app);
  } else if (flavor === "koa") {
    const app = new Koa();
    app.silent = true; // the disconnect test makes Koa log a parse error otherwise
    app.use(mediaMiddleware(repo, handlerOptions));
    app.use((ctx) => {
      if (ctx.path === "/_matrix/client/versions") ctx.body = { versions: ["v1.11", "v1.12"] };
    });
    const callback = app.callback();
    server = http.createServer((req, res) => void callback(req, res));
  } else {
    const handle = createMediaHandler(repo, handlerOptions);
    stats = () => handle.stats();
    server = http.createServer((req, res) => {
      handle(req, res).then(
        (handled) => {
          if (handled) return;
          if (req.url === "/_matrix/client/versions") {
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ versions: ["v1.11", "v1.12"] }));
          } else {
            res.writeHead(404).end();
          }
        },
        () => res.destroy(),
      );
    });
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    repo,
    cache,
    metadata: realMetadata,
    datastoreSpy,
    metadataSpy,
    root,
    files: () => walk(root),
    stats: () => stats(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await repo.close();
      await safeFetch.close();
      await dir.cleanup();
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): any;
}

/** An HTTP request with the path sent verbatim (no URL normalisation). */
export function request(
  baseUrl: string,
  method: string,
  rawPath: string,
  init: { token?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: rawPath,
        agent: false,
        headers: {
          ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}),
          ...(init.body !== undefined
            ? { "Content-Length": String(Buffer.byteLength(init.body)) }
            : {}),
          ...init.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body.toString("utf8")),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

/** A chunked upload (no Content-Length) as alice, each chunk written after the previous. */
export function chunkedUpload(
  baseUrl: string,
  chunks: Iterable<Buffer>,
): Promise<{ status: number; body: string; json(): any }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: "POST",
        path: "/_matrix/media/v3/upload",
        agent: false,
        headers: { Authorization: `Bearer ${TOKENS.alice}`, "Transfer-Encoding": "chunked" },
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) }),
        );
      },
    );
    // The server may answer and close before the whole body is written.
    req.on("error", (err) => (err.message.includes("EPIPE") ? undefined : reject(err)));
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** Uploads through the legacy v3 route; returns the media ID. */
export async function upload(
  baseUrl: string,
  body: Buffer | string,
  contentType: string | undefined,
  filename?: string,
): Promise<{ mxc: string; mediaId: string }> {
  const query = filename === undefined ? "" : `?filename=${encodeURIComponent(filename)}`;
  const res = await request(baseUrl, "POST", `/_matrix/media/v3/upload${query}`, {
    token: TOKENS.alice,
    body,
    headers: contentType === undefined ? {} : { "Content-Type": contentType },
  });
  if (res.status !== 200) throw new Error(`upload failed: ${res.status} ${res.body.toString()}`);
  const mxc = res.json().content_uri as string;
  return { mxc, mediaId: mxc.split("/").pop()! };
}

/** Polls `check` until it holds; fails after a generous bound (a bound on behaviour, not a timing). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  boundMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
