// What a homeserver configures on the media handler, and the one place those options are
// checked (at construction: a bad option is a ConfigError, never a request-time failure).
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConfigError } from "../errors.js";
import type { MediaRecord } from "../metadata/types.js";
import type { MediaRepository, RepositoryLogger } from "../repository/types.js";
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
  /** Logs unexpected errors (500s). */
  logger?: RepositoryLogger;
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
  return {
    repo,
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
