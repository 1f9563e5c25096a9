// The standalone media server: composes the kit's public API from a validated config.
// Everything here goes through `matrix-media-kit/*` exactly as a user's code would.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import pg from "pg";
import { createMediaRepository, MediaError, type MediaRepository } from "matrix-media-kit";
import {
  memoryCache,
  redisInvalidation,
  redisRingCache,
  tieredCache,
  type MediaCache,
} from "matrix-media-kit/cache";
import { fsDatastore, routeByKind, s3Datastore, type Datastore } from "matrix-media-kit/datastore";
import { createMediaHandler, type MediaUser } from "matrix-media-kit/http";
import {
  createMediaIdGenerator,
  leaseMachineId,
  Snowflake,
  type MachineIdLease,
} from "matrix-media-kit/ids";
import { postgresMetadataStore, type MetadataStore } from "matrix-media-kit/metadata";
import { sqliteMetadataStore } from "matrix-media-kit/metadata/sqlite";
import { createPreviewFetcher, createSafeFetch } from "matrix-media-kit/preview";
import { createThumbnailer } from "matrix-media-kit/thumbnail";
import type { DatastoreConfig, Kind, StandaloneConfig } from "./config.js";

export interface Logger {
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

export const consoleLogger: Logger = {
  info: (m, d) => console.log(JSON.stringify({ level: "info", msg: m, ...d })),
  warn: (m, d) => console.warn(JSON.stringify({ level: "warn", msg: m, ...d })),
  error: (m, d) => console.error(JSON.stringify({ level: "error", msg: m, ...d })),
};

export interface StandaloneServer {
  readonly url: string;
  readonly repository: MediaRepository;
  readonly machineId: number;
  /** Development token printed at start when no auth was configured. */
  readonly devToken: string | undefined;
  close(): Promise<void>;
}

function buildDatastore(d: DatastoreConfig): Datastore {
  const { id, type, kinds: _kinds, readOnly, ...options } = d;
  if (type === "fs") {
    mkdirSync(options.root as string, { recursive: true });
    return fsDatastore({ ...(options as { root: string }), id, readOnly: readOnly ?? false });
  }
  return s3Datastore({ ...(options as { bucket: string }), id, readOnly: readOnly ?? false });
}

/** Checks access tokens against the homeserver's whoami endpoint, caching answers. */
function whoamiAuth(homeserverUrl: string, admins: ReadonlySet<string>, cacheMs: number) {
  const cache = new Map<string, { user: MediaUser | undefined; expires: number }>();
  const base = homeserverUrl.replace(/\/+$/, "");
  return async (token: string): Promise<MediaUser | undefined> => {
    const hit = cache.get(token);
    if (hit && hit.expires > Date.now()) return hit.user;
    // The homeserver is the operator's own (often on a private network), so this request
    // deliberately does not go through the SSRF guard used for user-supplied URLs.
    const res = await fetch(`${base}/_matrix/client/v3/account/whoami`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    }).catch((err: unknown) => {
      throw new MediaError(
        "M_UNKNOWN",
        "The homeserver could not be reached to check the access token",
        {
          status: 502,
          cause: err,
        },
      );
    });
    let user: MediaUser | undefined;
    if (res.ok) {
      const body = (await res.json()) as { user_id?: unknown };
      if (typeof body.user_id !== "string")
        throw new MediaError("M_UNKNOWN", "Bad whoami answer", { status: 502 });
      user = { userId: body.user_id, isAdmin: admins.has(body.user_id) };
    } else if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      user = undefined;
    } else {
      await res.body?.cancel();
      throw new MediaError("M_UNKNOWN", `The homeserver answered whoami with ${res.status}`, {
        status: 502,
      });
    }
    if (cache.size > 100_000) cache.clear();
    cache.set(token, { user, expires: Date.now() + cacheMs });
    return user;
  };
}

/** Builds every component from `config` and starts listening. */
export async function startStandaloneServer(
  config: StandaloneConfig,
  logger: Logger = consoleLogger,
): Promise<StandaloneServer> {
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of closers.reverse())
      await c().catch((err: unknown) => logger.warn("close failed", { err: String(err) }));
  };
  try {
    // Redis: the ring cache and, with it, machine-ID leases.
    let lease: MachineIdLease | undefined;
    let cache: MediaCache = memoryCache({ maxBytes: config.cache.memory.maxBytes });
    if (config.cache.redis && config.cache.redis.shards.length > 0) {
      const { shards, ...ringOptions } = config.cache.redis;
      const leaseClient = new Redis(shards[0]!, { maxRetriesPerRequest: 1, lazyConnect: true });
      leaseClient.on("error", () => undefined);
      await leaseClient.connect();
      closers.push(async () => leaseClient.disconnect());
      lease = await leaseMachineId(leaseClient, {
        ...(config.machineId !== undefined && { machineId: config.machineId }),
        ...(ringOptions.namespace !== undefined && {
          namespace: `${ringOptions.namespace}:machine-id`,
        }),
        onLost: (reason) =>
          logger.error("machine ID lease lost: uploads stop until restart", {
            reason: reason.message,
          }),
      });
      closers.push(() => lease!.release());
      const ring = redisRingCache({ shards, ...ringOptions });
      const tiered = tieredCache([cache, ring], {
        invalidation: redisInvalidation({ url: shards[0]! }),
      });
      await tiered.connect();
      closers.push(() => tiered.close?.() ?? Promise.resolve());
      cache = tiered;
    } else if (config.machineId === undefined) {
      logger.warn(
        "MACHINE_ID is not set: using 0. Give every media-repo process sharing a database a distinct MACHINE_ID (0-1023), or configure cache.redis to lease one.",
      );
    }
    const machineId = lease?.machineId ?? config.machineId ?? 0;
    const ids = createMediaIdGenerator({
      snowflake: new Snowflake({ machineId, ...(lease && { signal: lease.signal }) }),
    });

    // Metadata.
    let metadata: MetadataStore;
    if (config.metadata.postgres) {
      const pool = new pg.Pool({ connectionString: config.metadata.postgres, max: 20 });
      // An idle connection dropped by the server (restart, failover) must not crash the process.
      pool.on("error", (err) => logger.warn("PostgreSQL connection lost", { err: err.message }));
      closers.push(() => pool.end());
      const store = postgresMetadataStore({ pool });
      await store.migrate();
      metadata = store;
    } else {
      mkdirSync(config.metadata.embedded!, { recursive: true });
      const store = sqliteMetadataStore({ directory: config.metadata.embedded! });
      await store.migrate();
      metadata = store;
    }
    closers.push(() => metadata.close());

    // Datastores, routed by kind.
    const stores = new Map(config.datastores.map((d) => [d.id, buildDatastore(d)]));
    for (const s of stores.values()) closers.push(() => s.dispose?.() ?? Promise.resolve());
    // Each kind goes to the first writable datastore listing it; kinds nobody lists fall back
    // to "local" inside routeByKind. Every datastore, read-only ones included, stays readable.
    const routes: Partial<Record<Kind, Datastore>> = {};
    for (const kind of ["local", "remote", "thumbnail", "preview", "archive"] as const) {
      const d = config.datastores.find((x) => !x.readOnly && x.kinds.includes(kind));
      if (d) routes[kind] = stores.get(d.id);
    }
    const datastore = routeByKind({
      ...routes,
      local: routes.local!, // resolveConfig guarantees a writable "local" datastore
      readable: [...stores.values()],
    });

    const thumbnailer = config.thumbnails.enabled
      ? createThumbnailer({
          ...(config.thumbnails.sizes && { sizes: config.thumbnails.sizes }),
          ...(config.thumbnails.maxPixels !== undefined && {
            maxPixels: config.thumbnails.maxPixels,
          }),
          ...(config.thumbnails.animated !== undefined && { animated: config.thumbnails.animated }),
          ...(config.thumbnails.dynamic !== undefined && { dynamic: config.thumbnails.dynamic }),
        })
      : undefined;
    const previews = config.previews.enabled
      ? createPreviewFetcher({
          fetch: createSafeFetch({
            ...(config.previews.allowRanges && { allowRanges: config.previews.allowRanges }),
            ...(config.previews.denyRanges && { denyRanges: config.previews.denyRanges }),
            ...(config.previews.userAgent && { userAgent: config.previews.userAgent }),
          }),
        })
      : undefined;

    const repository = createMediaRepository({
      serverName: config.serverName,
      ids,
      datastore,
      metadata,
      cache,
      ...(thumbnailer && { thumbnailer }),
      ...(previews && { previews }),
      limits: {
        maxUploadBytes: config.limits.maxUploadBytes,
        ...(config.limits.maxPendingPerUser !== undefined && {
          maxPendingPerUser: config.limits.maxPendingPerUser,
        }),
      },
      logger,
    });
    closers.push(() => repository.close());

    // Authentication: a homeserver's whoami (production) or a token map (development).
    const admins = new Set(config.auth.admins);
    let devToken: string | undefined;
    let check: (token: string) => Promise<MediaUser | undefined>;
    if (config.auth.homeserverUrl) {
      check = whoamiAuth(config.auth.homeserverUrl, admins, config.auth.cacheMs);
    } else {
      let tokens = config.auth.tokens;
      if (!tokens) {
        devToken = randomBytes(24).toString("base64url");
        const admin = `@admin:${config.serverName}`;
        tokens = { [devToken]: admin };
        admins.add(admin);
      }
      const map = new Map(Object.entries(tokens));
      check = async (token) => {
        const userId = map.get(token);
        return userId === undefined ? undefined : { userId, isAdmin: admins.has(userId) };
      };
    }
    const handler = createMediaHandler(repository, {
      authenticate: (_req, { accessToken }) => check(accessToken),
      freezeLegacy: config.freezeLegacy,
      logger,
    });

    const server = http.createServer((req, res) => {
      if (req.url === "/healthz") {
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
        return;
      }
      handler(req, res).then(
        (handled) => {
          if (handled) return;
          const body = JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
          res
            .writeHead(404, {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
            })
            .end(body);
        },
        (err: unknown) => {
          logger.error("request failed", { err: String(err) });
          if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ errcode: "M_UNKNOWN", error: "Internal server error" }));
        },
      );
    });
    server.requestTimeout = 0; // large uploads: the repository bounds bytes, not time
    server.headersTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.listen.port, config.listen.host, resolve);
    });
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const { port } = server.address() as AddressInfo;
    const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;
    const url = `http://${host}:${port}`;
    logger.info("media server listening", {
      url,
      serverName: config.serverName,
      machineId,
      machineIdLeased: lease !== undefined,
      datastores: config.datastores.map((d) => ({
        id: d.id,
        type: d.type,
        kinds: d.kinds,
        readOnly: d.readOnly,
      })),
      metadata: config.metadata.postgres
        ? "postgres"
        : `embedded sqlite in ${config.metadata.embedded}`,
      cache: config.cache.redis
        ? `memory ${config.cache.memory.maxBytes} B + redis ring of ${config.cache.redis.shards.length}`
        : `memory ${config.cache.memory.maxBytes} B`,
      thumbnails: config.thumbnails.enabled,
      previews: config.previews.enabled,
      auth: config.auth.homeserverUrl
        ? `whoami at ${config.auth.homeserverUrl}`
        : devToken
          ? "development token (below)"
          : "auth.tokens",
    });
    if (devToken) {
      logger.info(
        `no auth configured: use "Authorization: Bearer ${devToken}" (user @admin:${config.serverName}, an admin). Configure auth.tokens or auth.homeserverUrl for real use.`,
      );
    }
    return { url, repository, machineId, devToken, close };
  } catch (err) {
    await close();
    throw err;
  }
}
