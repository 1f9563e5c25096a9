// Config reload (SIGHUP): the config is read again; a refused one changes nothing. What the
// running components can take live is applied (the Redis shard list, auth tokens and admins,
// the rate limit, upload limits, datastores' readOnly flags, roles and background work);
// every other changed key is named as needing a restart.
import { DEFAULT_REPOSITORY_LIMITS, type MediaRepository } from "../index.js";
import type { RedisRingCache } from "../cache/index.js";
import {
  DEFAULT_MEDIA_HANDLER_OPTIONS,
  type MediaHandlerOptions,
  type MediaHandlerWithStats,
  type MediaRouteName,
} from "../http/index.js";
import { createServerAuth, type ServerAuth } from "./auth.js";
import type { ServerBackground } from "./background.js";
import type { MediaServerConfig } from "./config-types.js";
import type { ServerDatastores } from "./datastores.js";
import type { ServerLimits } from "./limits.js";
import type { ServerLogger } from "./logger.js";
import { routesOfRoles, type MediaServerRole } from "./roles.js";

/**
 * What `MediaServer.reload()` changed, by config key.
 *
 * @example
 * ```ts
 * const server = await startMediaServer(loadConfig({ file }), {
 *   loadConfig: () => loadConfig({ file }),
 * });
 * process.on("SIGHUP", () => {
 *   server.reload().then(({ restartNeeded }) => {
 *     if (restartNeeded.length > 0) console.warn(`restart to apply ${restartNeeded.join(", ")}`);
 *   }, () => undefined); // a refused config is logged and changes nothing
 * });
 * ```
 */
export interface ReloadResult {
  /** Changed keys now in force (e.g. `cache.redis.shards`, `auth.admins`). */
  applied: string[];
  /** Changed keys that take effect only after a restart (the old value stays in force). */
  restartNeeded: string[];
}

type RateLimit = NonNullable<MediaHandlerOptions["rateLimit"]>;

/** Auth, the rate limit and the roles behind stable functions the handler keeps. @internal */
export interface LiveSettings {
  check: ServerAuth["check"];
  rateLimit: RateLimit;
  /** The handler's `routes` option: the routes of the roles in force. */
  routes: (route: MediaRouteName) => boolean;
  readonly roles: readonly MediaServerRole[];
  devToken: string | undefined;
  setAuth(config: MediaServerConfig): void;
  setRateLimit(config: MediaServerConfig): void;
  setRoles(roles: readonly MediaServerRole[]): void;
}

/** @internal */
export function createLiveSettings(config: MediaServerConfig, limits: ServerLimits): LiveSettings {
  let auth = createServerAuth(config.auth, config.serverName);
  let roles: readonly MediaServerRole[] = config.roles;
  let serves = routesOfRoles(roles);
  const live: LiveSettings = {
    check: (token) => auth.check(token),
    rateLimit: limits.rateLimit,
    routes: (route) => serves(route),
    get roles() {
      return roles;
    },
    devToken: auth.devToken,
    setAuth(next) {
      auth = createServerAuth(next.auth, config.serverName);
      live.devToken = auth.devToken;
    },
    setRateLimit(next) {
      limits.set(next);
    },
    setRoles(next) {
      roles = next;
      serves = routesOfRoles(next);
    },
  };
  return live;
}

/** The operator's name of an internal key (`http.*` comes from `listen`, `limits`, `auth`). */
function keyName(key: string): string {
  if (key.startsWith("http.server.")) return `listen.${key.slice("http.server.".length)}`;
  if (key === "http.allowQueryToken") return "auth.allowQueryToken";
  if (key === "http.freezeLegacy") return "freezeLegacy";
  if (key.startsWith("http.")) return `limits.${key.slice("http.".length)}`;
  return key;
}

/** Compared whole: a changed token is named `auth.tokens`, never by the token itself. */
const WHOLE = new Set(["auth.tokens"]);

/** Leaf values by dotted key; datastores by id, other arrays whole. */
function leaves(value: unknown, key: string, out: Map<string, string>): Map<string, string> {
  if (key === "datastores" && Array.isArray(value)) {
    for (const d of value as Array<{ id: string }>) leaves(d, `datastores.${d.id}`, out);
  } else if (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    !WHOLE.has(key)
  ) {
    for (const [k, v] of Object.entries(value)) leaves(v, key ? `${key}.${k}` : k, out);
  } else {
    out.set(key, JSON.stringify(value) ?? "undefined");
  }
  return out;
}

/** The keys whose values differ between two configs, by their operator names. @internal */
export function changedKeys(before: MediaServerConfig, after: MediaServerConfig): string[] {
  const a = leaves(before, "", new Map());
  const b = leaves(after, "", new Map());
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).map(keyName);
}

const isAuth = (k: string) => k.startsWith("auth.") && k !== "auth.allowQueryToken";
const isRateLimit = (k: string) => k === "limits.rateLimit" || k.startsWith("limits.rateLimit.");
const REPOSITORY_LIMITS = new Set(["limits.maxUploadBytes", "limits.maxPendingPerUser"]);
const HANDLER_LIMITS = new Set([
  "limits.uploadIdleTimeoutMs",
  "limits.writeStallTimeoutMs",
  "limits.maxConcurrentUploadsPerUser",
]);
const isBackground = (k: string) => k === "roles" || k.startsWith("background.");

/** `datastores.<id>.readOnly` of a datastore both configs list. */
function readOnlyOf(k: string, before: MediaServerConfig, after: MediaServerConfig): boolean {
  const match = /^datastores\.(.+)\.readOnly$/.exec(k);
  const id = match?.[1];
  return (
    id !== undefined &&
    before.datastores.some((d) => d.id === id) &&
    after.datastores.some((d) => d.id === id)
  );
}

/** What a reload acts on. @internal */
export interface ReloadTargets {
  config: MediaServerConfig;
  /** Reads the config again (throws a ConfigError for a bad one). */
  load: (() => MediaServerConfig) | undefined;
  logger: ServerLogger;
  live: LiveSettings;
  ring: RedisRingCache | undefined;
  datastore: ServerDatastores;
  repository: Pick<MediaRepository, "updateLimits">;
  handler: Pick<MediaHandlerWithStats, "updateLimits">;
  background: Pick<ServerBackground, "apply">;
}

/** The config in force once `applied` keys of `next` are. */
function merged(
  inForce: MediaServerConfig,
  next: MediaServerConfig,
  applied: readonly string[],
): MediaServerConfig {
  const has = (test: (k: string) => boolean) => applied.some(test);
  const http = { ...inForce.http, rateLimit: next.http.rateLimit };
  if (has((k) => HANDLER_LIMITS.has(k))) {
    delete http.uploadIdleTimeoutMs;
    delete http.writeStallTimeoutMs;
    delete http.maxConcurrentUploadsPerUser;
    Object.assign(http, {
      ...pick(next.http, "uploadIdleTimeoutMs"),
      ...pick(next.http, "writeStallTimeoutMs"),
      ...pick(next.http, "maxConcurrentUploadsPerUser"),
    });
  }
  const readOnly = new Map(next.datastores.map((d) => [d.id, d.readOnly] as const));
  return {
    ...inForce,
    auth: has(isAuth) ? next.auth : inForce.auth,
    http,
    limits: has((k) => REPOSITORY_LIMITS.has(k)) ? next.limits : inForce.limits,
    roles: next.roles,
    background: next.background,
    datastores: inForce.datastores.map((d) =>
      applied.includes(`datastores.${d.id}.readOnly`) ? { ...d, readOnly: readOnly.get(d.id) } : d,
    ),
    cache: applied.includes("cache.redis.shards")
      ? { ...inForce.cache, redis: { ...inForce.cache.redis!, shards: next.cache.redis!.shards } }
      : inForce.cache,
  };
}

function pick<T extends object, K extends keyof T>(o: T, key: K): Partial<Pick<T, K>> {
  return o[key] === undefined ? {} : ({ [key]: o[key] } as Partial<Pick<T, K>>);
}

/** Puts the live keys of `next` in force; `applyReadOnly` was prepared (and checked) before. */
async function applyLive(
  targets: ReloadTargets,
  next: MediaServerConfig,
  applied: readonly string[],
  applyReadOnly: () => void,
): Promise<void> {
  const has = (test: (k: string) => boolean) => applied.some(test);
  const { live } = targets;
  applyReadOnly();
  if (has((k) => REPOSITORY_LIMITS.has(k))) {
    targets.repository.updateLimits({
      maxUploadBytes: next.limits.maxUploadBytes,
      maxPendingPerUser:
        next.limits.maxPendingPerUser ?? DEFAULT_REPOSITORY_LIMITS.maxPendingPerUser,
    });
  }
  if (has((k) => HANDLER_LIMITS.has(k))) {
    const d = DEFAULT_MEDIA_HANDLER_OPTIONS;
    targets.handler.updateLimits({
      uploadIdleTimeoutMs: next.http.uploadIdleTimeoutMs ?? d.uploadIdleTimeoutMs,
      writeStallTimeoutMs: next.http.writeStallTimeoutMs ?? d.writeStallTimeoutMs,
      maxConcurrentUploadsPerUser:
        next.http.maxConcurrentUploadsPerUser ?? d.maxConcurrentUploadsPerUser,
    });
  }
  if (has(isAuth)) live.setAuth(next);
  if (has(isRateLimit)) live.setRateLimit(next);
  if (applied.includes("roles")) live.setRoles(next.roles);
  if (has(isBackground)) await targets.background.apply(next);
}

/** `MediaServer.reload`: one reload at a time, each against the config in force. @internal */
export function createReloader(targets: ReloadTargets): () => Promise<ReloadResult> {
  const { logger, ring } = targets;
  let inForce = targets.config;
  const leaseShard = targets.config.cache.redis?.shards[0];
  let queue: Promise<unknown> = Promise.resolve();
  const reloadOnce = async (): Promise<ReloadResult> => {
    let next: MediaServerConfig;
    try {
      if (!targets.load) throw new Error("the server was started without a config source");
      next = targets.load();
      const changed = changedKeys(inForce, next);
      // The steps that can still refuse come first, before anything changes.
      const applyReadOnly = targets.datastore.prepareReadOnly(next.datastores);
      const shards = changed.includes("cache.redis.shards") && ring && next.cache.redis;
      if (shards) await ring.setShards(shards.shards);
      const before = inForce;
      const applied = changed.filter(
        (k) =>
          isAuth(k) ||
          isRateLimit(k) ||
          REPOSITORY_LIMITS.has(k) ||
          HANDLER_LIMITS.has(k) ||
          isBackground(k) ||
          readOnlyOf(k, before, next) ||
          (shards && k === "cache.redis.shards"),
      );
      await applyLive(targets, next, applied, applyReadOnly);
      inForce = merged(inForce, next, applied);
      const restartNeeded = changed.filter((k) => !applied.includes(k));
      // The machine-ID lease and the invalidation channel stay on the first shard of start.
      if (shards && shards.shards[0] !== leaseShard) {
        restartNeeded.push("cache.redis.shards[0]");
      }
      logger.info("config reloaded", { applied, restartNeeded });
      if (restartNeeded.length > 0) {
        logger.warn(`config change needs a restart: ${restartNeeded.join(", ")}`, {
          restartNeeded,
        });
      }
      return { applied, restartNeeded };
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, " ");
      logger.error("config reload refused: the running config stays in force", {
        error: message.trim(),
      });
      throw err;
    }
  };
  return () => {
    const run = queue.then(reloadOnce, reloadOnce);
    queue = run.catch(() => undefined);
    return run;
  };
}
