// startMediaServer: builds every component from a validated config, in dependency order,
// and starts listening. A failure part-way closes what was already opened.
import type { MediaRepository } from "../index.js";
import { createMediaHandler } from "../http/index.js";
import { startBackground } from "./background.js";
import { createServerCache } from "./cache.js";
import type { MediaServerConfig } from "./config-types.js";
import { buildFromConfig } from "./config-values.js";
import { handlerOptions } from "./handler.js";
import { createServerLimits } from "./limits.js";
import { createServerDatastore, sweepTemporaryFiles } from "./datastores.js";
import { listen } from "./listen.js";
import { startMetricsListener } from "./metrics.js";
import { contextualLogger, jsonLineLogger, type ServerLogger } from "./logger.js";
import { createServerFederation } from "./federation.js";
import { createServerMetadata } from "./metadata.js";
import { createServerRepository } from "./repository.js";
import type { MediaServerRole } from "./roles.js";
import { ShutdownStack } from "./shutdown.js";
import { readinessChecks } from "./readiness.js";
import { createLiveSettings, createReloader, type ReloadResult } from "./reload.js";

/** Options of {@link startMediaServer}. */
export interface StartMediaServerOptions {
  /**
   * Any logger with this interface; its lines are cleaned of tokens and tagged with the
   * request ID. @defaultValue {@link jsonLineLogger} on stdout (info) and stderr (warnings, errors)
   */
  logger?: ServerLogger;
  /**
   * How {@link MediaServer.reload} reads the config again, e.g.
   * `() => loadConfig({ file })`. @defaultValue none: `reload()` is refused
   */
  loadConfig?: () => MediaServerConfig;
}

/** A running media server. */
export interface MediaServer {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly repository: MediaRepository;
  /** The machine ID in use (leased in Redis when `cache.redis` is configured). */
  readonly machineId: number;
  /** `http://host:port/metrics` when `metrics.listen` is set. */
  readonly metricsUrl: string | undefined;
  /** The roles this process serves (`roles` of the config in force). */
  readonly roles: readonly MediaServerRole[];
  /** Development token printed at start when no auth was configured. */
  readonly devToken: string | undefined;
  /**
   * Re-reads the config (`options.loadConfig`) and applies what can change live: the Redis
   * shard list, `auth` tokens and admins, `limits.rateLimit`, the upload limits
   * (`maxUploadBytes`, `maxPendingPerUser`, `maxConcurrentUploadsPerUser`, the idle and stall
   * timeouts), each datastore's `readOnly`, `roles` (routes served, and whether this process
   * competes for the background lease) and `background`. Other changed keys are named in
   * `restartNeeded`. A refused config is logged, changes nothing, and rejects.
   */
  reload(): Promise<ReloadResult>;
  /**
   * Drains (`/readyz` 503, no new connections, in-flight requests get `shutdown.drainMs`,
   * then their sockets are destroyed), then closes the repository, stores, cache and lease
   * (once).
   */
  close(): Promise<void>;
}

/**
 * Builds the media server described by `config` (from {@link loadConfig} or
 * {@link resolveConfig}) and starts listening.
 *
 * @throws {@link ConfigError} for an option a component refuses (named by its config key).
 * @example
 * ```ts
 * import { loadConfig, startMediaServer } from "matrix-media-kit/server";
 *
 * const server = await startMediaServer(loadConfig({ file: "media.yaml" }));
 * process.once("SIGTERM", () => void server.close());
 * ```
 */
export async function startMediaServer(
  config: MediaServerConfig,
  options: StartMediaServerOptions = {},
): Promise<MediaServer> {
  const logger = contextualLogger(options.logger ?? jsonLineLogger(process));
  const shutdown = new ShutdownStack(logger);
  try {
    // Subscribed before anything publishes, so the first events are counted too.
    const metricsUrl = await startMetricsListener(config.metrics, shutdown, logger);
    // Datastores first: they do no I/O, so a refused driver option stops the start early.
    const datastore = createServerDatastore(config.datastores, shutdown);
    await sweepTemporaryFiles(datastore, logger);
    const { cache, lease, machineId, ring } = await createServerCache(config, shutdown, logger);
    const metadata = await createServerMetadata(config.metadata, shutdown, logger);
    const federated = await createServerFederation(config, cache, shutdown, logger);
    const { coordinator, federation, remote } = federated;
    const parts = { datastore, metadata, cache, machineId, lease, remote, coordinator };
    const repository = createServerRepository(config, parts, logger);
    shutdown.push(() => repository.close());
    const jobParts = { coordinator, repository, metadata, datastore };
    const background = startBackground(config, jobParts, shutdown, logger);
    const limits = createServerLimits(config, shutdown, logger);
    await limits.connect();
    const live = createLiveSettings(config, limits);
    const handler = buildFromConfig("limits", () =>
      createMediaHandler(repository, {
        ...handlerOptions(config.http, live.check, logger),
        rateLimit: live.rateLimit, // replaced on reload
        downloadLimit: limits.downloadLimit,
        ...(limits.quotas && { quotas: limits.quotas }),
        routes: live.routes, // the roles in force, changed on reload
        // Inbound federation is verified here (X-Matrix against the origin's published keys).
        ...(federation && { authenticateServer: (req) => federation.authenticateServer(req) }),
      }),
    );
    const server = await listen(handler, config.listen, config.http.server, logger, {
      tls: config.listen.tls,
      serverKeys:
        federation && config.federation.serveKeys ? () => federation.serverKeys() : undefined,
      ready: readinessChecks(metadata, () => datastore.all()),
    });
    shutdown.push(() => server.close(config.shutdown.drainMs));
    logStartup(logger, config, {
      url: server.url,
      machineId,
      leased: lease !== undefined,
      devToken: live.devToken,
    });
    server.setReady();
    const reload = createReloader({
      config,
      load: options.loadConfig,
      logger,
      live,
      ring,
      datastore,
      repository,
      handler,
      background,
    });
    const { devToken } = live;
    return {
      url: server.url,
      metricsUrl,
      repository,
      machineId,
      get roles() {
        return live.roles;
      },
      devToken,
      reload,
      close: () => shutdown.close(),
    };
  } catch (err) {
    await shutdown.close();
    throw err;
  }
}

/** One line with what the server runs on, so an operator sees the effective config. */
function logStartup(
  logger: ServerLogger,
  config: MediaServerConfig,
  state: { url: string; machineId: number; leased: boolean; devToken: string | undefined },
): void {
  logger.info("media server listening", {
    url: state.url,
    serverName: config.serverName,
    roles: config.roles,
    machineId: state.machineId,
    machineIdLeased: state.leased,
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
    federation: config.federation.enabled
      ? { legacyFallback: config.federation.legacyFallback, serveKeys: config.federation.serveKeys }
      : false,
    auth: config.auth.homeserverUrl
      ? `whoami at ${config.auth.homeserverUrl}`
      : state.devToken
        ? "development token (below)"
        : "auth.tokens",
  });
  if (state.devToken) {
    logger.info(
      `no auth configured: use "Authorization: Bearer ${state.devToken}" (user @admin:${config.serverName}, an admin). Configure auth.tokens or auth.homeserverUrl for real use.`,
    );
  }
}
