// The one place the handler's options are checked (at construction: a bad option is a
// ConfigError, never a request-time failure), and the settings every route shares.
import { ConfigError } from "../errors.js";
import type { MediaRecord } from "../metadata/types.js";
import type { MediaRepository, RepositoryLogger } from "../repository/types.js";
import { UploadSlots, WriteStallWatch } from "./guards.js";
import {
  DEFAULT_MEDIA_HANDLER_OPTIONS,
  type LiveHandlerLimits,
  type MediaAdminHooks,
  type MediaAuthOptions,
  type MediaHandlerOptions,
} from "./options.js";
import { resolveQuotaPolicy, type QuotaPolicy } from "./quota.js";
import { HandlerStats } from "./stats.js";
import type { MediaRouteName } from "./target.js";

/**
 * The validated options with their defaults applied, shared by every route.
 * @internal
 */
export interface HandlerSettings {
  repo: MediaRepository;
  authenticate: MediaHandlerOptions["authenticate"];
  authenticateServer: MediaHandlerOptions["authenticateServer"];
  rateLimit: MediaHandlerOptions["rateLimit"];
  downloadLimit: MediaHandlerOptions["downloadLimit"];
  /** The checked `quotas` option; `undefined` when uploads have no quota. */
  quota: QuotaPolicy | undefined;
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
  /** False for a route the `routes` option leaves out (logged once per route). */
  serves(route: MediaRouteName): boolean;
  admin: MediaAdminHooks;
}

/**
 * Changes the upload and response bounds of a running handler (`updateLimits`), checked like
 * the options at construction. @internal
 */
export function updateHandlerLimits(settings: HandlerSettings, patch: LiveHandlerLimits): void {
  if (typeof patch !== "object" || patch === null) {
    throw new ConfigError(`updateLimits: expected an object but received ${received(patch)}`, {
      option: "limits",
    });
  }
  const next = checkLimits({
    authenticate: settings.authenticate,
    uploadIdleTimeoutMs: patch.uploadIdleTimeoutMs ?? settings.uploadIdleTimeoutMs,
    writeStallTimeoutMs: patch.writeStallTimeoutMs ?? settings.writeStalls.ms,
    maxConcurrentUploadsPerUser: patch.maxConcurrentUploadsPerUser ?? settings.uploads.max,
  });
  settings.uploadIdleTimeoutMs = next.uploadIdleTimeoutMs;
  settings.writeStalls.setMs(next.writeStallTimeoutMs);
  settings.uploads.setMax(next.maxConcurrentUploadsPerUser);
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

function checkAdminHooks(admin: unknown): MediaAdminHooks {
  if (admin === undefined) return {};
  if (typeof admin !== "object" || admin === null) {
    throw new ConfigError(
      `createMediaHandler: expected options.admin to be an object but received ${received(admin)}`,
      { option: "admin" },
    );
  }
  const hooks = admin as MediaAdminHooks;
  expectFunction(hooks.roomMedia, "admin.roomMedia", "(roomId) => mxcs", true);
  expectFunction(hooks.profileMedia, "admin.profileMedia", "(candidates) => mxcs", true);
  return { roomMedia: hooks.roomMedia, profileMedia: hooks.profileMedia };
}

/**
 * The `routes` option, asked on every request (so a function over live state, such as roles a
 * config reload changes, takes effect at once); a route left out is logged once each time it
 * stops being served.
 */
function routeFilter(
  routes: MediaHandlerOptions["routes"],
  logger: RepositoryLogger | undefined,
): HandlerSettings["serves"] {
  if (routes === undefined) return () => true;
  const warned = new Set<MediaRouteName>();
  return (route) => {
    const served = routes(route) === true;
    if (served) warned.delete(route);
    else if (!warned.has(route)) {
      warned.add(route);
      logger?.warn("a request for a route this process does not serve: answering 404", {
        route,
      });
    }
    return served;
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
  expectFunction(
    options.downloadLimit,
    "downloadLimit",
    "(context, bytes) => ms | undefined",
    true,
  );
  expectFunction(options.authenticateServer, "authenticateServer", "(req) => serverName", true);
  expectFunction(options.routes, "routes", "(route) => boolean", true);
  const freeze = checkFreeze(options.freezeLegacy ?? DEFAULT_MEDIA_HANDLER_OPTIONS.freezeLegacy);
  const cacheControl = options.cacheControl ?? DEFAULT_MEDIA_HANDLER_OPTIONS.cacheControl;
  if (typeof cacheControl !== "string" || cacheControl === "" || /[\r\n]/.test(cacheControl)) {
    throw new ConfigError(
      `createMediaHandler: expected options.cacheControl to be a non-empty header value but received ${received(cacheControl)}`,
      { option: "cacheControl" },
    );
  }
  const admin = checkAdminHooks(options.admin);
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
    downloadLimit: options.downloadLimit,
    quota: resolveQuotaPolicy(options.quotas),
    logger: options.logger,
    serves: routeFilter(options.routes, options.logger),
    admin,
    cacheControl,
    freezes: freeze !== false,
    isFrozen: (record) =>
      freeze === true || (typeof freeze === "object" && record.createdAt >= freeze.after),
  };
}
