import type { Readable } from "node:stream";
import type { MediaCache } from "../cache/types.js";
import type { ByteRange, Datastore } from "../datastore/types.js";
import type {
  MetadataStore,
  MediaRecord,
  QuarantineTarget,
  UsageStats,
} from "../metadata/types.js";
import type { DatastoreRouter } from "../datastore/index.js";
import type { PreviewImage, PreviewOptions } from "../preview/index.js";
import type {
  ThumbnailMethod,
  ThumbnailResult,
  ThumbnailSize,
  ThumbnailSourceLoader,
} from "../thumbnail/index.js";
import type { Coordinator } from "../coordination/types.js";
import type { RemoteMediaOptions } from "./remote-types.js";
import type { MediaAdmin } from "./admin-types.js";

export type {
  RemoteDownloadOptions,
  RemoteMedia,
  RemoteMediaOptions,
  RemoteMediaSource,
} from "./remote-types.js";

// The primitives' own types, re-exported where the root entry exported the repository's
// copies (type-only: the root entry still loads none of their dependencies).
export type {
  DatastoreRouter,
  PreviewImage,
  PreviewOptions,
  ThumbnailMethod,
  ThumbnailResult,
  ThumbnailSize,
  ThumbnailSourceLoader,
};

/** Anything that hands out fresh media IDs (`createMediaIdGenerator()` from `matrix-media-kit/ids`). */
export interface MediaIdSource {
  next(): string;
}

/**
 * What the repository needs of a thumbnailer (`createThumbnailer()` from
 * `matrix-media-kit/thumbnail` fits). Refusals throw `MediaError`. The repository reads only
 * the image, its type, dimensions, method and `animated` of each result (never a blurhash).
 */
export interface ThumbnailerLike {
  /**
   * Renders one size. With `acceptsSourceLoader`, `source` may be a loader, called once the
   * thumbnailer admits the job; otherwise it is always the bytes.
   */
  generate(
    source: Buffer | ThumbnailSourceLoader,
    options: ThumbnailSize & { animated?: boolean },
  ): Promise<ThumbnailResult>;
  /** Pre-generates the configured sizes; called in the background after an upload. */
  generateAll?(
    source: Buffer | ThumbnailSourceLoader,
    options?: { animated?: boolean },
  ): Promise<ThumbnailResult[]>;
  /** Maps a requested size to the configured size to generate (the source may bound it). */
  pickSize?(request: ThumbnailSize, source?: { width: number; height: number }): ThumbnailSize;
  /**
   * The configured sizes. A size `pickSize` returns that is not one of them is a dynamic
   * size, counted against `limits.maxDynamicThumbnailsPerMedia`; without `sizes`, every
   * generated size is.
   */
  readonly sizes?: readonly ThumbnailSize[];
  /**
   * Largest source the thumbnailer accepts: larger ones are refused with `413 M_TOO_LARGE`
   * before they are read, like `limits.maxThumbnailSourceBytes`.
   */
  readonly maxSourceBytes?: number;
  /**
   * The largest source of this content type, when it differs by type (a video may be larger
   * than an image); takes precedence over `maxSourceBytes`.
   */
  maxSourceBytesFor?(contentType: string): number;
  /**
   * True when `generate` and `generateAll` accept a loader (`() => Promise<Buffer>`) in place
   * of the bytes and call it only once their queue admits the job; the repository then reads
   * a source only for admitted jobs. Without it the repository reads the source first.
   */
  readonly acceptsSourceLoader?: boolean;
}

/**
 * What the repository needs of a URL preview fetcher (`createPreviewFetcher()` from
 * `matrix-media-kit/preview` fits). A returned `image` is stored as the preview's `og:image`.
 */
export interface PreviewFetcherLike {
  preview(
    url: string,
    options?: PreviewOptions,
  ): Promise<{ og: Record<string, string | number>; image?: PreviewImage }>;
}

/** A minimal logger (console fits). */
export interface RepositoryLogger {
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
  debug?(message: string, details?: Record<string, unknown>): void;
}

/** Limits of {@link createMediaRepository}; every field has a default in `DEFAULT_REPOSITORY_LIMITS`. */
export interface RepositoryLimits {
  /**
   * Largest upload in bytes, advertised as `m.upload.size`.
   * @defaultValue 52_428_800 (50 MiB)
   */
  maxUploadBytes: number;
  /**
   * Unexpired `POST /create` IDs a user may hold at once.
   * @defaultValue 10
   */
  maxPendingPerUser: number;
  /**
   * How long an ID from `POST /create` stays usable.
   * @defaultValue 86_400_000 (24 h)
   */
  pendingExpiryMs: number;
  /**
   * How long a download of a pending ID waits when the client gives no `timeout_ms`.
   * @defaultValue 20_000
   */
  defaultWaitMs: number;
  /**
   * Upper bound of `timeout_ms`.
   * @defaultValue 60_000
   */
  maxWaitMs: number;
  /**
   * How often a download waiting for a pending upload re-reads metadata. With a shared
   * `coordinator` the upload's completion wakes the waiter in every process and this poll
   * only covers a lost wake-up; without one (or with `memoryCoordinator()`) it is how a
   * completion by another process is seen.
   * @defaultValue 2_000 with a shared `coordinator`, else 500
   */
  pendingPollMs: number;
  /**
   * Media up to this size is kept in the cache (filled on read); larger media streams from
   * the datastore.
   * @defaultValue 4_194_304 (4 MiB)
   */
  maxCachedBytes: number;
  /**
   * Largest source the repository thumbnails (pre-generated or on demand); a larger one is
   * refused with `413 M_TOO_LARGE` before it is read. The thumbnailer's own `maxSourceBytes`,
   * when lower, applies the same way.
   * @defaultValue 52_428_800 (50 MiB)
   */
  maxThumbnailSourceBytes: number;
  /**
   * Most bytes of thumbnail sources held in memory at once, across every job: one loaded
   * source is shared by all the sizes being made of it, and a job that would load past this
   * is refused with `503 M_LIMIT_EXCEEDED` and a retry time. At least
   * `maxThumbnailSourceBytes`, so that any source fits on its own.
   * @defaultValue 268_435_456 (256 MiB)
   */
  maxThumbnailSourceMemoryBytes: number;
  /**
   * Most dynamic (exact, not configured) thumbnail sizes stored per media, when the
   * thumbnailer makes them (its `dynamic` option). A stored thumbnail counts unless it has a
   * configured size's dimensions (a crop both, a scale its width or its height); those being
   * generated count too. Past it, requests are served the nearest configured size.
   * @defaultValue 10
   */
  maxDynamicThumbnailsPerMedia: number;
  /**
   * How often last-access times are written to the metadata store in one batch.
   * @defaultValue 30_000
   */
  touchIntervalMs: number;
  /**
   * How long a URL preview is reused.
   * @defaultValue 3_600_000 (1 h)
   */
  previewTtlMs: number;
  /**
   * How often expired pending uploads and expired URL-preview cache entries are deleted
   * from the metadata store (`0` disables the timer; call `sweepExpired()` yourself).
   * @defaultValue 600_000 (10 min)
   */
  sweepIntervalMs: number;
}

/** Options of {@link createMediaRepository}. */
export interface MediaRepositoryOptions {
  /** The server name local uploads are made under (or give `serverNames`). */
  serverName?: string;
  /** Every server name this repository serves as local; the first is used for uploads. */
  serverNames?: readonly string[];
  /** Media ID source (`createMediaIdGenerator()`). */
  ids: MediaIdSource;
  /** One datastore for every kind, or a router (`routeByKind()`; only `forKind` and `byId` are used). */
  datastore: Datastore | Pick<DatastoreRouter, "forKind" | "byId">;
  metadata: MetadataStore;
  /** Blob cache (`memoryCache()`, `tieredCache()`); quarantine deletes from it. */
  cache?: MediaCache;
  /** Without one, thumbnails are `404 M_NOT_FOUND`. */
  thumbnailer?: ThumbnailerLike;
  /** Without one, `preview_url` is `404 M_NOT_FOUND`. */
  previews?: PreviewFetcherLike;
  limits?: Partial<RepositoryLimits>;
  /** Fetching media of other servers on a lookup miss; without it such media is `404 M_NOT_FOUND`. */
  remote?: RemoteMediaOptions;
  /**
   * What the processes of one deployment share (`redisCoordinator()`,
   * `postgresCoordinator()` from `matrix-media-kit/coordination`): the completion of an
   * asynchronous upload wakes the downloads waiting for it in every process, and
   * `remote.coordinator` defaults to it. Closed by the caller, not by the repository.
   * @defaultValue `memoryCoordinator()` (this process only; closed with the repository)
   */
  coordinator?: Coordinator;
  logger?: RepositoryLogger;
  /** Clock in ms since the epoch. @defaultValue `Date.now` */
  now?: () => number;
}

/** Options of {@link MediaRepository.upload}. */
export interface UploadOptions {
  /** As sent by the uploader; sniffed only when missing. */
  contentType?: string | undefined;
  filename?: string | undefined;
  /** Matrix user ID of the uploader. */
  uploader: string;
  /** When the caller knows it (HTTP `Content-Length`): checked before any byte is read. */
  contentLength?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Which local server name to upload under. @defaultValue the first of `serverNames` */
  origin?: string | undefined;
}

/** What an upload created. */
export interface UploadResult {
  mxc: string;
  record: MediaRecord;
}

/** Options of {@link MediaRepository.lookup} and friends. */
export interface LookupOptions {
  /** How long to wait for a pending upload (clamped to `limits.maxWaitMs`). */
  timeoutMs?: number | undefined;
  /**
   * `false` never fetches media of another server (HTTP `allow_remote=false`): what is not
   * stored is `M_NOT_FOUND`.
   * @defaultValue true
   */
  allowRemote?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of {@link MediaRepository.read}. */
export interface ReadOptions {
  /** A single satisfiable byte range (validate it against `record.size` first). */
  range?: ByteRange | undefined;
  /** Return a datastore URL instead of bytes when the datastore has one. */
  allowRedirect?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** Bytes of a media item: a buffer (from the cache), a stream, or a redirect URL. */
export interface MediaBody {
  /** Total size of the media. */
  size: number;
  /** The inclusive range carried, when a range was asked for. */
  range?: { start: number; end: number };
  buffer?: Buffer;
  stream?: Readable;
  redirect?: string;
}

/** A thumbnail ready to serve. */
export interface ThumbnailBody {
  contentType: string;
  width: number;
  height: number;
  method: ThumbnailMethod;
  animated: boolean;
  sha256: string;
  buffer: Buffer;
}

/** Options of {@link MediaRepository.thumbnail}. */
export interface ThumbnailOptions extends LookupOptions {
  width: number;
  height: number;
  method?: ThumbnailMethod | undefined;
  animated?: boolean | undefined;
}

/**
 * Options of {@link MediaRepository.preview}: one client request (the fetcher's own per-call
 * options are {@link PreviewOptions}).
 */
export interface PreviewRequestOptions {
  /**
   * Milliseconds since the epoch the preview is wanted for, rounded down to the hour: a cached
   * preview of that hour is served, else the page as it is now (cached under the current hour).
   */
  ts?: number | undefined;
  /** `Accept-Language`; only the primary subtag of the first language counts (`en-US,fr` → `en`). */
  language?: string | undefined;
  /** Owner of the stored `og:image`. */
  userId: string;
  signal?: AbortSignal | undefined;
}

/** The Matrix media configuration (`GET /config`). */
export interface MediaConfig {
  "m.upload.size": number;
}

/**
 * The limits {@link MediaRepository.updateLimits} changes live.
 *
 * @example
 * ```ts
 * const patch: Partial<LiveRepositoryLimits> = { maxUploadBytes: 10 * 1024 * 1024 };
 * repository.updateLimits(patch);
 * ```
 */
export type LiveRepositoryLimits = Pick<RepositoryLimits, "maxUploadBytes" | "maxPendingPerUser">;

/** A media repository: see {@link createMediaRepository}. */
export interface MediaRepository {
  /** Local server names; the first is used for uploads. */
  readonly serverNames: readonly string[];
  readonly limits: Readonly<RepositoryLimits>;
  isLocal(origin: string): boolean;
  /** Streams an upload in; returns its `mxc://` URI. */
  upload(
    source: AsyncIterable<Uint8Array> | Uint8Array,
    options: UploadOptions,
  ): Promise<UploadResult>;
  /** Reserves a media ID for an asynchronous upload (`POST /create`). */
  createPending(
    uploader: string,
    options?: {
      origin?: string;
      /** This user's bound on unexpired pending uploads. @defaultValue `limits.maxPendingPerUser` */
      maxPendingPerUser?: number;
    },
  ): Promise<{ mxc: string; expiresAt: number }>;
  /** Fills a reserved ID (`PUT /upload/{server}/{id}`); only its creator may. */
  uploadPending(
    origin: string,
    mediaId: string,
    source: AsyncIterable<Uint8Array> | Uint8Array,
    options: UploadOptions,
  ): Promise<UploadResult>;
  /** Throws unless a pending ID could be filled by this user (checked before reading a body). */
  checkPending(origin: string, mediaId: string, uploader: string): Promise<void>;
  /** The record of servable media, waiting for a pending upload; quarantined or missing: `M_NOT_FOUND`. */
  lookup(origin: string, mediaId: string, options?: LookupOptions): Promise<MediaRecord>;
  /** Bytes of a record found by {@link MediaRepository.lookup}. */
  read(record: MediaRecord, options?: ReadOptions): Promise<MediaBody>;
  /** `lookup` then `read`. */
  download(
    origin: string,
    mediaId: string,
    options?: LookupOptions & ReadOptions,
  ): Promise<{ record: MediaRecord; body: MediaBody }>;
  /** A thumbnail at least as large as asked (unless the source is smaller), pre-generated or made now. */
  thumbnail(origin: string, mediaId: string, options: ThumbnailOptions): Promise<ThumbnailBody>;
  /** The `preview_url` JSON of a URL. */
  preview(url: string, options: PreviewRequestOptions): Promise<Record<string, string | number>>;
  config(): MediaConfig;
  /** Bytes and count of a user's local media (the metadata store's `getUsage`). */
  usage(userId: string): Promise<UsageStats>;
  /**
   * Changes `maxUploadBytes` and `maxPendingPerUser` live (a config reload), checked as at
   * construction: a refused value throws a `ConfigError` and changes nothing.
   */
  updateLimits(limits: Partial<LiveRepositoryLimits>): void;
  /**
   * Quarantines (or with `value: false`, releases) media, emptying every cache tier. A single
   * `mxc` target that is not stored is `M_NOT_FOUND`.
   */
  quarantine(target: QuarantineTarget, value?: boolean): Promise<{ affected: number }>;
  /** Deletes media, its thumbnails and, when nothing else uses them, their blobs. */
  delete(origin: string, mediaId: string): Promise<boolean>;
  /** Deletes remote media not accessed since `before` (ms since the epoch). */
  purgeRemote(before: number): Promise<{ deleted: number }>;
  /** Media info, protection, listings, statistics and bulk deletes for operators. */
  readonly admin: MediaAdmin;
  /** Deletes expired pending uploads and expired URL-preview cache entries now. */
  sweepExpired(): Promise<{ pending: number; previews: number }>;
  /** Resolves once background work (thumbnail pre-generation) started so far is done. */
  whenIdle(): Promise<void>;
  /** Flushes last-access times, waits for background work; does not close injected stores. */
  close(): Promise<void>;
}
