// Config reload (SIGHUP): the config is read again; a refused one changes nothing. What the
// running components can take live is applied (the Redis shard list, auth tokens and admins,
// the rate limit); every other changed key is named as needing a restart.
import type { RedisRingCache } from "../cache/index.js";
import type { MediaHandlerOptions } from "../http/index.js";
import { createServerAuth, type ServerAuth } from "./auth.js";
import type { MediaServerConfig } from "./config-types.js";
import type { ServerLimits } from "./limits.js";
import type { ServerLogger } from "./logger.js";

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

/** Auth and the rate limit behind stable functions the handler keeps. @internal */
export interface LiveSettings {
  check: ServerAuth["check"];
  rateLimit: RateLimit;
  devToken: string | undefined;
  setAuth(config: MediaServerConfig): void;
  setRateLimit(config: MediaServerConfig): void;
}

/** @internal */
export function createLiveSettings(config: MediaServerConfig, limits: ServerLimits): LiveSettings {
  let auth = createServerAuth(config.auth, config.serverName);
  const live: LiveSettings = {
    check: (token) => auth.check(token),
    rateLimit: limits.rateLimit,
    devToken: auth.devToken,
    setAuth(next) {
      auth = createServerAuth(next.auth, config.serverName);
      live.devToken = auth.devToken;
    },
    setRateLimit(next) {
      limits.set(next);
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

/** What a reload acts on. @internal */
export interface ReloadTargets {
  config: MediaServerConfig;
  /** Reads the config again (throws a ConfigError for a bad one). */
  load: (() => MediaServerConfig) | undefined;
  logger: ServerLogger;
  live: LiveSettings;
  ring: RedisRingCache | undefined;
}

/** `MediaServer.reload`: one reload at a time, each against the config in force. @internal */
export function createReloader(targets: ReloadTargets): () => Promise<ReloadResult> {
  const { logger, live, ring } = targets;
  let inForce = targets.config;
  const leaseShard = targets.config.cache.redis?.shards[0];
  let queue: Promise<unknown> = Promise.resolve();
  const reloadOnce = async (): Promise<ReloadResult> => {
    let next: MediaServerConfig;
    try {
      if (!targets.load) throw new Error("the server was started without a config source");
      next = targets.load();
      const changed = changedKeys(inForce, next);
      const shards = changed.includes("cache.redis.shards") && ring && next.cache.redis;
      // First: it is the one step that can still refuse (a bad shard URL), before any other.
      if (shards) await ring.setShards(shards.shards);
      const applied = changed.filter(
        (k) => isAuth(k) || isRateLimit(k) || (shards && k === "cache.redis.shards"),
      );
      if (applied.some(isAuth)) live.setAuth(next);
      if (applied.some(isRateLimit)) live.setRateLimit(next);
      inForce = {
        ...inForce,
        auth: applied.some(isAuth) ? next.auth : inForce.auth,
        http: { ...inForce.http, rateLimit: next.http.rateLimit },
        cache: shards
          ? { ...inForce.cache, redis: { ...inForce.cache.redis!, shards: shards.shards } }
          : inForce.cache,
      };
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
