// The repository over the stores, with the optional thumbnailer and preview fetcher.
import {
  createMediaRepository,
  type MediaRepository,
  type MediaRepositoryOptions,
} from "../index.js";
import type { MediaCache } from "../cache/index.js";
import type { Coordinator } from "../coordination/index.js";
import { createMediaIdGenerator, Snowflake, type MachineIdLease } from "../ids/index.js";
import type { MetadataStore } from "../metadata/index.js";
import { createPreviewFetcher, createSafeFetch, type PreviewFetcher } from "../preview/index.js";
import { createThumbnailer, type Thumbnailer } from "../thumbnail/index.js";
import type { MediaServerConfig, PreviewsConfig, ThumbnailsConfig } from "./config-types.js";
import { buildFromConfig } from "./config-values.js";
import type { ServerLogger } from "./logger.js";

/** What the repository is built over. @internal */
export interface RepositoryParts {
  datastore: MediaRepositoryOptions["datastore"];
  metadata: MetadataStore;
  cache: MediaCache;
  machineId: number;
  lease: MachineIdLease | undefined;
  /** Remote media over federation, when enabled. */
  remote?: MediaRepositoryOptions["remote"] | undefined;
  /** Shared by every process: wakes downloads waiting for an asynchronous upload. */
  coordinator?: Coordinator | undefined;
}

/** @internal */
export function createServerRepository(
  config: MediaServerConfig,
  parts: RepositoryParts,
  logger: ServerLogger,
): MediaRepository {
  const { machineId, lease } = parts;
  const ids = buildFromConfig("machineId", () =>
    createMediaIdGenerator({
      snowflake: new Snowflake({ machineId, ...(lease && { signal: lease.signal }) }),
    }),
  );
  const thumbnailer = config.thumbnails.enabled
    ? buildFromConfig("thumbnails", () => createServerThumbnailer(config.thumbnails, logger))
    : undefined;
  const previews = config.previews.enabled
    ? buildFromConfig("previews", () => createServerPreviews(config.previews))
    : undefined;
  return buildFromConfig("limits", () =>
    createMediaRepository({
      serverName: config.serverName,
      ids,
      datastore: parts.datastore,
      metadata: parts.metadata,
      cache: parts.cache,
      ...(thumbnailer && { thumbnailer }),
      ...(previews && { previews }),
      ...(parts.remote && { remote: parts.remote }),
      ...(parts.coordinator && { coordinator: parts.coordinator }),
      limits: {
        maxUploadBytes: config.limits.maxUploadBytes,
        ...(config.background.enabled && { sweepIntervalMs: 0 }), // the leader sweeps
        ...(config.limits.maxPendingPerUser !== undefined && {
          maxPendingPerUser: config.limits.maxPendingPerUser,
        }),
        ...(config.thumbnails.maxSourceMemoryBytes !== undefined && {
          maxThumbnailSourceMemoryBytes: config.thumbnails.maxSourceMemoryBytes,
        }),
        ...(config.thumbnails.maxDynamicPerMedia !== undefined && {
          maxDynamicThumbnailsPerMedia: config.thumbnails.maxDynamicPerMedia,
        }),
      },
      logger,
    }),
  );
}

function createServerThumbnailer(thumbnails: ThumbnailsConfig, logger: ServerLogger): Thumbnailer {
  return createThumbnailer({
    logger,
    ...(thumbnails.video && { video: thumbnails.video }),
    ...(thumbnails.sizes && { sizes: thumbnails.sizes }),
    ...(thumbnails.maxPixels !== undefined && { maxPixels: thumbnails.maxPixels }),
    ...(thumbnails.animated !== undefined && { animated: thumbnails.animated }),
    ...(thumbnails.dynamic !== undefined && { dynamic: thumbnails.dynamic }),
    ...(thumbnails.maxSourceBytes !== undefined && { maxSourceBytes: thumbnails.maxSourceBytes }),
  });
}

function createServerPreviews(previews: PreviewsConfig): PreviewFetcher {
  return createPreviewFetcher({
    fetch: createSafeFetch({
      ...(previews.allowRanges && { allowRanges: previews.allowRanges }),
      ...(previews.denyRanges && { denyRanges: previews.denyRanges }),
      ...(previews.userAgent && { userAgent: previews.userAgent }),
    }),
  });
}
