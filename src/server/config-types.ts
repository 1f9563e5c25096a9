// The validated configuration of the media server, as `resolveConfig` returns it.
import type { HttpConfig } from "./config-http.js";
import type { BackgroundConfig } from "./config-background.js";
import type { MetricsConfig } from "./config-metrics.js";
import type { FederationConfig, ListenTlsConfig } from "./config-federation.js";
import type { MediaKind } from "../index.js";
import type { MediaServerRole } from "./roles.js";
import type { VideoThumbnailOptions } from "../thumbnail/index.js";

/**
 * One `datastores[]` entry: where blobs of the listed kinds are written. Other keys are the
 * driver's own options (fs: `root`, `fsync`; s3: `bucket`, `endpoint`, `region`,
 * `credentials`, …) and are passed through to `fsDatastore` / `s3Datastore`.
 *
 * @example
 * ```yaml
 * datastores:
 *   - { id: local, type: fs, kinds: [local, remote, thumbnail, preview], root: ./data/media }
 * ```
 */
export interface DatastoreConfig {
  /** Stable id stored with every record; never rename it once media was written. */
  id: string;
  type: "fs" | "s3";
  /** Kinds routed here (the first writable datastore listing a kind gets it). */
  kinds: MediaKind[];
  /** Read only: served, never written (e.g. the source of a finished migration). */
  readOnly?: boolean;
  /** Driver options (fs: root, resolved against the config's directory; s3: bucket, …). */
  [option: string]: unknown;
}

/** `cache`: an in-process tier, and optionally a sharded Redis ring behind it. */
export interface CacheConfig {
  memory: { maxBytes: number };
  /** With Redis the machine ID is leased there, and deletes reach every process. */
  redis?: {
    shards: string[];
    namespace?: string;
    commandTimeoutMs?: number;
    maxItemBytes?: number;
  };
}

/** `auth`: a homeserver's whoami (production) or a token map (development and tests). */
export interface AuthConfig {
  homeserverUrl?: string;
  /** Access token → Matrix user ID. */
  tokens?: Record<string, string>;
  /** User IDs allowed on the admin routes. */
  admins: string[];
  /** How long a whoami answer is reused, in ms. */
  cacheMs: number;
}

/** `thumbnails`: passed to `createThumbnailer` when enabled. */
export interface ThumbnailsConfig {
  enabled: boolean;
  sizes?: Array<{ width: number; height: number; method: "crop" | "scale" }>;
  maxPixels?: number;
  animated?: boolean;
  dynamic?: boolean;
  /** Sources larger than this are not thumbnailed (`413 M_TOO_LARGE`). */
  maxSourceBytes?: number;
  /** Bytes of thumbnail sources held in memory at once, over every job (`503` past it). */
  maxSourceMemoryBytes?: number;
  /** Dynamic (unconfigured) sizes stored per media when `dynamic` is on. */
  maxDynamicPerMedia?: number;
  /** `thumbnails.video`: video poster frames with a sandboxed ffmpeg (see config-video.ts). */
  video?: VideoThumbnailOptions;
}

/** `previews`: URL previews through the SSRF guard (CIDR allow/deny lists). */
export interface PreviewsConfig {
  enabled: boolean;
  allowRanges?: string[];
  denyRanges?: string[];
  userAgent?: string;
}

/**
 * The media server's configuration with every default filled in and every path absolute.
 * Build it with {@link loadConfig} (a YAML file) or {@link resolveConfig} (an object).
 *
 * @example
 * ```ts
 * const config = resolveConfig({ serverName: "example.org", listen: { port: 0 } });
 * ```
 */
export interface MediaServerConfig {
  serverName: string;
  /** `PORT` from the environment overrides `listen.port`; port 0 picks a free one. */
  listen: { host: string; port: number; tls?: ListenTlsConfig };
  /** From `MACHINE_ID` (or the config); undefined: lease a free one with Redis, else 0. */
  machineId: number | undefined;
  datastores: DatastoreConfig[];
  cache: CacheConfig;
  /** Exactly one of a PostgreSQL URL and an embedded SQLite directory. */
  metadata: { postgres?: string; embedded?: string };
  auth: AuthConfig;
  limits: { maxUploadBytes: number; maxPendingPerUser?: number };
  thumbnails: ThumbnailsConfig;
  previews: PreviewsConfig;
  /** Remote media over federation, and serving other servers. */
  federation: FederationConfig;
  /** Timeouts, request bounds, rate limit, query tokens and the legacy freeze. */
  http: HttpConfig;
  /** `shutdown.drainMs`: how long SIGTERM lets in-flight requests finish. */
  shutdown: { drainMs: number };
  /** The leader lease and the jobs only the leader runs. */
  background: BackgroundConfig;
  /**
   * What this process serves; a route of another role is answered `404 M_UNRECOGNIZED`.
   * `background` is the maintenance run by one process of the deployment. Every role by
   * default, in this order.
   */
  roles: MediaServerRole[];
  /** Prometheus metrics on a listener of their own (`metrics.listen`). */
  metrics: MetricsConfig;
}

/** The environment variables the configuration reads. */
export interface ConfigEnv {
  /** The config file, when none is given explicitly. */
  MEDIA_CONFIG?: string | undefined;
  /** The machine ID (0–1023), over the config's `machineId`. */
  MACHINE_ID?: string | undefined;
  /** The port to listen on, over the config's `listen.port`. */
  PORT?: string | undefined;
  [name: string]: string | undefined;
}

export type { HttpConfig } from "./config-http.js";
export type { BackgroundConfig } from "./config-background.js";
export type { MetricsConfig } from "./config-metrics.js";
export type {
  FederationConfig,
  ListenTlsConfig,
  TrustedKeyServerConfig,
} from "./config-federation.js";
