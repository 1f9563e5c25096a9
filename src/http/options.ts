// What a homeserver configures on the media handler; settings.ts checks it at construction.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { MxcUri } from "../mxc.js";
import type { RepositoryLogger } from "../repository/types.js";
import type { UploadQuotaOptions } from "./quota.js";
import type { MediaHandlerStats } from "./stats.js";
import type { MediaRouteName } from "./target.js";

/** Who made a request, as the authentication hook says. */
export interface MediaUser {
  /** Matrix user ID. */
  userId: string;
  /** May call the admin routes. @defaultValue false */
  isAdmin?: boolean;
}

/** What the rate-limit hook sees. */
export interface RateLimitContext {
  route: MediaRouteName;
  /** Undefined for unauthenticated legacy downloads and federation requests. */
  user: MediaUser | undefined;
  /** The requesting server, for federation routes. */
  server?: string | undefined;
  /** The peer address. */
  ip: string | undefined;
  req: IncomingMessage;
}

/** Options of {@link createMediaHandler}. */
export interface MediaHandlerOptions {
  /**
   * Checks an access token (from `Authorization: Bearer` or `?access_token=`); resolves
   * to the user, or `undefined` for an unknown token (`401 M_UNKNOWN_TOKEN`). May throw a
   * `MediaError`. Requests without a token never reach it (`401 M_MISSING_TOKEN`).
   */
  authenticate: (
    req: IncomingMessage,
    credentials: { accessToken: string },
  ) => Promise<MediaUser | undefined>;
  /**
   * Verifies a federation request (the `X-Matrix` authorization) and resolves to the
   * requesting server's name, or `undefined` to refuse it (`401 M_UNAUTHORIZED`). When
   * given, the handler serves `GET /_matrix/federation/v1/media/download/{mediaId}` and
   * `.../thumbnail/{mediaId}` (local media only, as `multipart/mixed`); without it those
   * paths are not media routes (the handler resolves `false`).
   */
  authenticateServer?: (req: IncomingMessage) => Promise<string | undefined>;
  /**
   * Returns milliseconds to wait when the request is over a limit (`429 M_LIMIT_EXCEEDED`
   * with `Retry-After`), or `undefined` to let it through. Runs after authentication.
   */
  rateLimit?: (context: RateLimitContext) => Promise<number | undefined> | number | undefined;
  /**
   * Charged with the bytes a download or thumbnail is about to send (the whole entity, or the
   * range asked), before a byte is sent: returns milliseconds to wait (`429 M_LIMIT_EXCEEDED`
   * with `Retry-After`) or `undefined` to send. `HEAD` and `304` answers are not charged.
   * `createRedisRateLimiter` gives a leaky bucket of bytes for it.
   */
  downloadLimit?: (
    context: RateLimitContext,
    bytes: number,
  ) => Promise<number | undefined> | number | undefined;
  /**
   * Per-user upload quotas (stored bytes, file count, pending uploads, bytes per window),
   * refused with `403 M_USER_LIMIT_EXCEEDED`: before the body is read when `Content-Length`
   * tells, else at the first byte over (nothing of the upload is kept). `/config` then
   * reports the user's limits (MSC4034) and `/_matrix/media/unstable/org.matrix.msc4034/usage`
   * their usage.
   * @defaultValue no quota
   */
  quotas?: UploadQuotaOptions;
  /**
   * Freezes the unauthenticated legacy `/_matrix/media/.../download` and `/thumbnail`
   * routes: `true` refuses all media there (`404 M_NOT_FOUND`), `{ after }` refuses media
   * created at or after that instant (ms since the epoch), as the spec's freeze suggests.
   * @defaultValue false
   */
  freezeLegacy?: boolean | { after: number };
  /**
   * `Cache-Control` of successful media responses.
   * @defaultValue `"private, max-age=31536000, immutable"`
   */
  cacheControl?: string;
  /** Logs unexpected errors (500s); client aborts and timeouts at debug. */
  logger?: RepositoryLogger;
  /** How access tokens may be sent. */
  auth?: MediaAuthOptions;
  /**
   * An upload body that sends nothing for this long is aborted: the stored bytes are
   * discarded and the socket destroyed (time spent writing to the datastore does not count).
   * @defaultValue 30_000
   */
  uploadIdleTimeoutMs?: number;
  /**
   * A response the client stops reading (bytes waiting for the socket without progress) for
   * this long is destroyed, closing its datastore stream.
   * @defaultValue 30_000
   */
  writeStallTimeoutMs?: number;
  /**
   * Uploads (`POST /upload`, `PUT /upload/…`) one user may have in flight; more are refused
   * with `429 M_LIMIT_EXCEEDED` and `Retry-After`.
   * @defaultValue 4
   */
  maxConcurrentUploadsPerUser?: number;
  /**
   * Which routes this handler serves, e.g. one role of a deployment split by path. A route it
   * does not serve is answered as an unknown path (`404 M_UNRECOGNIZED`), so a misrouted
   * request is visible, and logged at warn once per route. Asked on every request, so it may
   * answer from live state (roles changed by a config reload).
   * @defaultValue every route
   */
  routes?: (route: MediaRouteName) => boolean;
  /** What the admin routes need to know of rooms and profiles, which the kit does not keep. */
  admin?: MediaAdminHooks;
}

/** Options of {@link MediaHandlerOptions.admin}. */
export interface MediaAdminHooks {
  /**
   * The media of a room's events, for `POST /_synapse/admin/v1/room/{roomId}/media/quarantine`.
   * Without it that route answers `501 M_UNRECOGNIZED`.
   */
  roomMedia?: (roomId: string) => Promise<readonly MxcUri[]>;
  /**
   * Of `candidates`, those used as avatars (user profiles, room avatars), which
   * `POST /_synapse/admin/v1/media/delete` keeps unless `keep_profiles=false`. Without it
   * that route refuses `keep_profiles=true` (Synapse's default) with `400 M_INVALID_PARAM`
   * rather than delete avatars it cannot recognise.
   */
  profileMedia?: (candidates: readonly MxcUri[]) => Promise<readonly MxcUri[]>;
}

/** Options of {@link MediaHandlerOptions.auth}. */
export interface MediaAuthOptions {
  /**
   * Accept `?access_token=` when there is no `Authorization` header. Each use is counted and
   * logged at warn (at most once a minute). MSC4127 removes query-string tokens from the media
   * endpoints, so the default will become `false` and the option will go away; `false` answers
   * such requests `401 M_MISSING_TOKEN`.
   * @defaultValue true
   */
  allowQueryToken?: boolean;
}

/**
 * Defaults of {@link MediaHandlerOptions}.
 *
 * @example
 * ```ts
 * createMediaHandler(repo, { authenticate, cacheControl: DEFAULT_MEDIA_HANDLER_OPTIONS.cacheControl });
 * ```
 */
export const DEFAULT_MEDIA_HANDLER_OPTIONS = Object.freeze({
  /** @defaultValue false */
  freezeLegacy: false,
  /** @defaultValue "private, max-age=31536000, immutable" */
  cacheControl: "private, max-age=31536000, immutable",
  /** @defaultValue `{ allowQueryToken: true }` */
  auth: Object.freeze({ allowQueryToken: true }),
  /** @defaultValue 30_000 */
  uploadIdleTimeoutMs: 30_000,
  /** @defaultValue 30_000 */
  writeStallTimeoutMs: 30_000,
  /** @defaultValue 4 */
  maxConcurrentUploadsPerUser: 4,
});

/**
 * What a framework adapter knows about the request that `node:http` does not: the request
 * target as the client sent it, before a router stripped a mount path from `req.url`
 * (Express's `req.originalUrl`, Koa's `ctx.originalUrl`).
 *
 * @example
 * ```ts
 * handle(req, res, { url: req.originalUrl });
 * ```
 */
export interface MediaRequestTarget {
  /** Path and query string. @defaultValue `req.url` */
  url?: string | undefined;
}

/**
 * Serves the Matrix media API; resolves `false` when the request is not a media route
 * (so a framework can fall through), `true` once it has been answered. Plain `node:http`
 * servers call it with `(req, res)`; adapters pass the original request target as the third
 * argument.
 */
export type MediaHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  target?: MediaRequestTarget,
) => Promise<boolean>;

/**
 * What {@link createMediaHandler} returns: the handler, and its counters (client aborts,
 * timeouts, refused uploads) for metrics.
 */
export type MediaHandlerWithStats = MediaHandler & {
  /** A snapshot of the counters since the handler was created. */
  stats(): MediaHandlerStats;
  /**
   * Changes the upload and response bounds of the running handler (a config reload), checked
   * like the options at construction: a refused value throws a `ConfigError` and changes
   * nothing. Requests in flight keep the bounds they started with.
   */
  updateLimits(limits: LiveHandlerLimits): void;
};

/**
 * The bounds {@link MediaHandlerWithStats.updateLimits} changes live.
 *
 * @example
 * ```ts
 * const handler = createMediaHandler(repository, { authenticate });
 * const limits: LiveHandlerLimits = { maxConcurrentUploadsPerUser: 2 };
 * handler.updateLimits(limits);
 * ```
 */
export type LiveHandlerLimits = Partial<
  Pick<
    MediaHandlerOptions,
    "uploadIdleTimeoutMs" | "writeStallTimeoutMs" | "maxConcurrentUploadsPerUser"
  >
>;
