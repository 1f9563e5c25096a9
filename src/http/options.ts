// What a homeserver configures on the media handler, and the one place those options are
// checked (at construction: a bad option is a ConfigError, never a request-time failure).
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConfigError } from "../errors.js";
import type { MediaRecord } from "../metadata/types.js";
import type { MediaRepository, RepositoryLogger } from "../repository/types.js";
import { UploadSlots, WriteStallWatch } from "./guards.js";
import { HandlerStats, type MediaHandlerStats } from "./stats.js";
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
};

/**
 * The validated options with their defaults applied, shared by every route.
 * @internal
 */
export interface HandlerSettings {
  repo: MediaRepository;
  authenticate: MediaHandlerOptions["authenticate"];
  authenticateServer: MediaHandlerOptions["authenticateServer"];
  rateLimit: MediaHandlerOptions["rateLimit"];
  logger: RepositoryLogger | undefined;
  cacheControl: string;
  /** True when the unauthenticated legacy routes may not serve this record. */
  isFrozen(record: MediaRecord): boolean;
  /** False when nothing is frozen, so the legacy thumbnail route can skip a lookup. */
  freezes: boolean;
  allowQueryToken: boolean;
  uploadIdleTimeoutMs: number;
  uploads: UploadSlots;
  writeStalls: WriteStallWatch;
  stats: HandlerStats;
}

function received(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function expectFunction(value: unknown, option: string, shape: string, optional: boolean): void {
  if (typeof value === "function" || (optional && value === undefined)) return;
  throw new ConfigError(
    `createMediaHandler: expected options.${option} to be a function ${shape} but received ${received(value)}`,
    { option },
  );
}

function checkFreeze(freeze: unknown): boolean | { after: number } {
  if (typeof freeze === "boolean") return freeze;
  if (
    typeof freeze === "object" &&
    freeze !== null &&
    Number.isFinite((freeze as { after?: unknown }).after)
  ) {
    return freeze as { after: number };
  }
  throw new ConfigError(
    `createMediaHandler: expected options.freezeLegacy to be a boolean or { after: number } but received ${received(freeze)}`,
    { option: "freezeLegacy" },
  );
}

// setTimeout fires at once for delays past 2^31 - 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkPositiveInt(value: unknown, option: string, max: number): number {
  if (Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max) {
    return value as number;
  }
  throw new ConfigError(
    `createMediaHandler: expected options.${option} to be an integer 1–${max} but received ${received(value)}`,
    { option },
  );
}

function checkAuth(auth: unknown): boolean {
  const allow =
    typeof auth === "object" && auth !== null
      ? ((auth as MediaAuthOptions).allowQueryToken ?? true)
      : auth;
  if (typeof allow === "boolean") return allow;
  const option = typeof auth === "object" && auth !== null ? "auth.allowQueryToken" : "auth";
  throw new ConfigError(
    `createMediaHandler: expected options.${option} to be ${option === "auth" ? "an object" : "a boolean"} but received ${received(allow)}`,
    { option },
  );
}

function checkLimits(options: MediaHandlerOptions) {
  const defaults = DEFAULT_MEDIA_HANDLER_OPTIONS;
  return {
    uploadIdleTimeoutMs: checkPositiveInt(
      options.uploadIdleTimeoutMs ?? defaults.uploadIdleTimeoutMs,
      "uploadIdleTimeoutMs",
      MAX_TIMER_MS,
    ),
    writeStallTimeoutMs: checkPositiveInt(
      options.writeStallTimeoutMs ?? defaults.writeStallTimeoutMs,
      "writeStallTimeoutMs",
      MAX_TIMER_MS,
    ),
    maxConcurrentUploadsPerUser: checkPositiveInt(
      options.maxConcurrentUploadsPerUser ?? defaults.maxConcurrentUploadsPerUser,
      "maxConcurrentUploadsPerUser",
      Number.MAX_SAFE_INTEGER,
    ),
  };
}

/**
 * Validates the factory arguments of {@link createMediaHandler}.
 * @internal
 */
export function resolveSettings(
  repo: MediaRepository,
  options: MediaHandlerOptions,
): HandlerSettings {
  if (typeof repo?.lookup !== "function") {
    throw new ConfigError(
      `createMediaHandler: expected a media repository (createMediaRepository()) but received ${received(repo)}`,
      { option: "repo" },
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new ConfigError(
      `createMediaHandler: expected options to be an object but received ${received(options)}`,
      { option: "options" },
    );
  }
  expectFunction(options.authenticate, "authenticate", "(req, { accessToken }) => user", false);
  expectFunction(options.rateLimit, "rateLimit", "(context) => ms | undefined", true);
  expectFunction(options.authenticateServer, "authenticateServer", "(req) => serverName", true);
  const freeze = checkFreeze(options.freezeLegacy ?? DEFAULT_MEDIA_HANDLER_OPTIONS.freezeLegacy);
  const cacheControl = options.cacheControl ?? DEFAULT_MEDIA_HANDLER_OPTIONS.cacheControl;
  if (typeof cacheControl !== "string" || cacheControl === "" || /[\r\n]/.test(cacheControl)) {
    throw new ConfigError(
      `createMediaHandler: expected options.cacheControl to be a non-empty header value but received ${received(cacheControl)}`,
      { option: "cacheControl" },
    );
  }
  const allowQueryToken = checkAuth(options.auth ?? DEFAULT_MEDIA_HANDLER_OPTIONS.auth);
  const limits = checkLimits(options);
  const stats = new HandlerStats(options.logger);
  return {
    repo,
    allowQueryToken,
    uploadIdleTimeoutMs: limits.uploadIdleTimeoutMs,
    uploads: new UploadSlots(limits.maxConcurrentUploadsPerUser),
    writeStalls: new WriteStallWatch(limits.writeStallTimeoutMs, (res) => {
      stats.abort({ route: undefined, reason: "write-stall" });
      res.destroy();
    }),
    stats,
    authenticate: options.authenticate,
    authenticateServer: options.authenticateServer,
    rateLimit: options.rateLimit,
    logger: options.logger,
    cacheControl,
    freezes: freeze !== false,
    isFrozen: (record) =>
      freeze === true || (typeof freeze === "object" && record.createdAt >= freeze.after),
  };
}
