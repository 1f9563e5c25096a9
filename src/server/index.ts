/**
 * The standalone media server, built only from the kit's public subpaths: configuration
 * (a YAML file over embedded defaults, `MACHINE_ID` and `PORT` from the environment), token
 * or homeserver-whoami auth, and the wiring of datastores, metadata, cache, thumbnailer and
 * previews behind the Matrix media API. `matrix-media-kit serve` runs it.
 *
 * @example
 * ```ts
 * import { loadConfig, startMediaServer } from "matrix-media-kit/server";
 *
 * const server = await startMediaServer(loadConfig({ file: "media.yaml" }));
 * console.log(`listening on ${server.url}`);
 * ```
 *
 * @module
 */
export {
  loadConfig,
  resolveConfig,
  type LoadConfigOptions,
  type ResolveConfigOptions,
} from "./config.js";
export type {
  AuthConfig,
  BackgroundConfig,
  CacheConfig,
  ConfigEnv,
  DatastoreConfig,
  FederationConfig,
  HttpConfig,
  ListenTlsConfig,
  MediaServerConfig,
  MetricsConfig,
  PreviewsConfig,
  ThumbnailsConfig,
  TrustedKeyServerConfig,
} from "./config-types.js";
export type { DownloadBucketConfig, QuotaConfig, RateLimitConfig } from "./config-quota.js";
export type { MediaKind } from "../index.js";
export type { VideoThumbnailOptions } from "../thumbnail/index.js";
export type { MediaServerRole } from "./roles.js";
export {
  jsonLineLogger,
  type JsonLineLoggerOptions,
  type LogStreams,
  type ServerLogger,
} from "./logger.js";
export { startMediaServer, type MediaServer, type StartMediaServerOptions } from "./start.js";
export type { ReloadResult } from "./reload.js";
// The repository and the types it names, for `MediaServer.repository`.
export type * from "../index.js";
