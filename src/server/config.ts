// The media server's configuration: a YAML file (`--config FILE` or MEDIA_CONFIG) over
// embedded defaults, MACHINE_ID and PORT from the environment. Every value is validated with a
// message naming its key; nothing is silently clamped. This is the one parser of the format
// (`matrix-media-kit serve` and `matrix-media-kit migrate --config` both use it).
import { resolveFederation, resolveListenTls } from "./config-federation.js";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError, MEDIA_KINDS, type MediaKind } from "../index.js";
import { parseMachineId } from "../ids/index.js";
import { resolveHttp } from "./config-http.js";
import { resolveShutdown } from "./shutdown.js";
import { resolveBackground } from "./config-background.js";
import { resolveVideoThumbnails } from "./config-video.js";
import { resolveMetrics } from "./config-metrics.js";
import { resolveRoles } from "./roles.js";
import type {
  AuthConfig,
  CacheConfig,
  ConfigEnv,
  DatastoreConfig,
  MediaServerConfig,
  PreviewsConfig,
  ThumbnailsConfig,
} from "./config-types.js";
import {
  readBool,
  readBytes,
  readInt,
  readObject,
  readString,
  readStringList,
  refuseUnknownKeys,
  type ConfigObject,
} from "./config-values.js";

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The YAML file. @defaultValue `env.MEDIA_CONFIG`, else no file (embedded defaults) */
  file?: string | undefined;
  /** MEDIA_CONFIG, MACHINE_ID and PORT are read here. @defaultValue `process.env` */
  env?: ConfigEnv;
}

/** Options of {@link resolveConfig}. */
export interface ResolveConfigOptions {
  /** MACHINE_ID and PORT are read here. @defaultValue `{}` */
  env?: ConfigEnv;
  /** Relative paths are resolved against it. @defaultValue `process.cwd()` */
  baseDir?: string;
}

const TOP_LEVEL_KEYS = [
  "serverName",
  "listen",
  "machineId",
  "datastores",
  "cache",
  "metadata",
  "auth",
  "limits",
  "thumbnails",
  "previews",
  "federation",
  "freezeLegacy",
  "shutdown",
  "background",
  "roles",
  "metrics",
] as const;

/**
 * Reads the YAML config file (optional) and validates it; relative paths in it are resolved
 * against the file's directory (without a file, against the working directory).
 *
 * @throws {@link ConfigError} naming the key of the first bad value, or the unreadable file.
 * @example
 * ```ts
 * import { loadConfig, startMediaServer } from "matrix-media-kit/server";
 *
 * const server = await startMediaServer(loadConfig({ file: "media.yaml" }));
 * ```
 */
export function loadConfig(options: LoadConfigOptions = {}): MediaServerConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.MEDIA_CONFIG;
  if (!file) return resolveConfig({}, { env, baseDir: process.cwd() });
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, "utf8")) ?? {};
  } catch (err) {
    throw new ConfigError(`Cannot read config ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return resolveConfig(raw, { env, baseDir: path.dirname(path.resolve(file)) });
}

/**
 * Validates a parsed config object (the YAML file's shape) and fills in every default.
 *
 * @throws {@link ConfigError} naming the key of the first bad value.
 * @example
 * ```ts
 * const config = resolveConfig(
 *   { serverName: "example.org", auth: { tokens: { secret: "@alice:example.org" } } },
 *   { env: { MACHINE_ID: "3" }, baseDir: "/srv/media" },
 * );
 * ```
 */
export function resolveConfig(raw: unknown, options: ResolveConfigOptions = {}): MediaServerConfig {
  const env = options.env ?? {};
  const baseDir = options.baseDir ?? process.cwd();
  const c = readObject(raw, "the config");
  refuseUnknownKeys(c, TOP_LEVEL_KEYS, "");
  const resolvePath = (p: string) => path.resolve(baseDir, p);
  const listen = readObject(c.listen, "listen");
  const metadata = readObject(c.metadata, "metadata");
  if (metadata.postgres !== undefined && metadata.embedded !== undefined) {
    throw new ConfigError("Set either metadata.postgres or metadata.embedded, not both", {
      option: "metadata",
    });
  }
  const limits = readObject(c.limits, "limits");
  return {
    serverName: readString(c.serverName, "serverName", "localhost:8008"),
    listen: {
      host: readString(listen.host, "listen.host", "127.0.0.1"),
      port: readInt(
        env.PORT,
        "PORT",
        readInt(listen.port, "listen.port", 8008, 0, 65535),
        0,
        65535,
      ),
      ...(listen.tls !== undefined && { tls: resolveListenTls(listen.tls, resolvePath)! }),
    },
    machineId: resolveMachineId(c.machineId, env),
    datastores: resolveDatastores(c.datastores, resolvePath),
    cache: resolveCache(readObject(c.cache, "cache")),
    metadata:
      metadata.postgres !== undefined
        ? { postgres: readString(metadata.postgres, "metadata.postgres") }
        : {
            embedded: resolvePath(
              readString(metadata.embedded, "metadata.embedded", "./data/metadata"),
            ),
          },
    auth: resolveAuth(readObject(c.auth, "auth")),
    limits: {
      maxUploadBytes: readBytes(limits.maxUploadBytes, "limits.maxUploadBytes", 100 * 1024 ** 2),
      ...(limits.maxPendingPerUser !== undefined && {
        maxPendingPerUser: readInt(limits.maxPendingPerUser, "limits.maxPendingPerUser", 10, 1),
      }),
    },
    thumbnails: resolveThumbnails(readObject(c.thumbnails, "thumbnails")),
    previews: resolvePreviews(readObject(c.previews, "previews")),
    federation: resolveFederation(c.federation, resolvePath),
    http: resolveHttp(c, listen, limits, readObject(c.auth, "auth")),
    shutdown: resolveShutdown(readObject(c.shutdown, "shutdown")),
    background: resolveBackground(c.background),
    roles: resolveRoles(c.roles),
    metrics: resolveMetrics(c.metrics),
  };
}

/** MACHINE_ID wins over the config's `machineId`; both go through `parseMachineId`. */
function resolveMachineId(configured: unknown, env: ConfigEnv): number | undefined {
  const value =
    env.MACHINE_ID ??
    (typeof configured === "number" || typeof configured === "string"
      ? String(configured)
      : configured === undefined
        ? undefined
        : "invalid");
  return value === undefined ? undefined : parseMachineId(value);
}

const DEFAULT_DATASTORES = [
  { id: "local", type: "fs", kinds: [...MEDIA_KINDS], root: "./data/media" },
];

function resolveDatastores(value: unknown, resolvePath: (p: string) => string): DatastoreConfig[] {
  const list = value ?? DEFAULT_DATASTORES;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError("Expected a non-empty list for datastores", { option: "datastores" });
  }
  const ids = new Set<string>();
  const datastores = list.map((entry, n) => {
    const d = resolveDatastore(readObject(entry, `datastores[${n}]`), `datastores[${n}]`);
    if (ids.has(d.id))
      throw new ConfigError(`datastores[${n}].id "${d.id}" is used twice`, {
        option: `datastores[${n}].id`,
      });
    ids.add(d.id);
    if (d.type === "fs") d.root = resolvePath(d.root as string);
    return d;
  });
  // Other kinds fall back to the "local" datastore (routeByKind), so only "local" is required.
  if (!datastores.some((d) => !d.readOnly && d.kinds.includes("local"))) {
    throw new ConfigError(
      `No writable datastore has kind "local": add it to one datastore's kinds`,
      { option: "datastores" },
    );
  }
  return datastores;
}

function resolveDatastore(o: ConfigObject, key: string): DatastoreConfig {
  const id = readString(o.id, `${key}.id`);
  const type = readString(o.type, `${key}.type`);
  if (type !== "fs" && type !== "s3")
    throw new ConfigError(`${key}.type must be fs or s3 but received ${JSON.stringify(type)}`, {
      option: `${key}.type`,
    });
  const kinds = (readStringList(o.kinds, `${key}.kinds`) ?? []) as MediaKind[];
  for (const k of kinds)
    if (!MEDIA_KINDS.includes(k))
      throw new ConfigError(`${key}.kinds: unknown kind ${k}`, { option: `${key}.kinds` });
  if (type === "fs") readString(o.root, `${key}.root`);
  if (type === "s3") readString(o.bucket, `${key}.bucket`);
  return {
    ...o,
    id,
    type,
    kinds: [...kinds],
    readOnly: readBool(o.readOnly, `${key}.readOnly`, false),
  };
}

function resolveCache(cache: ConfigObject): CacheConfig {
  const memory = readObject(cache.memory, "cache.memory");
  const maxBytes = readBytes(memory.maxBytes, "cache.memory.maxBytes", 256 * 1024 ** 2);
  if (cache.redis === undefined) return { memory: { maxBytes } };
  const redis = readObject(cache.redis, "cache.redis");
  return {
    memory: { maxBytes },
    redis: {
      shards: readStringList(redis.shards, "cache.redis.shards") ?? [],
      ...(redis.namespace !== undefined && {
        namespace: readString(redis.namespace, "cache.redis.namespace"),
      }),
      ...(redis.commandTimeoutMs !== undefined && {
        commandTimeoutMs: readInt(redis.commandTimeoutMs, "cache.redis.commandTimeoutMs", 250, 1),
      }),
      ...(redis.maxItemBytes !== undefined && {
        maxItemBytes: readBytes(redis.maxItemBytes, "cache.redis.maxItemBytes", 0),
      }),
    },
  };
}

function resolveAuth(auth: ConfigObject): AuthConfig {
  const tokens = auth.tokens === undefined ? undefined : readObject(auth.tokens, "auth.tokens");
  for (const [token, userId] of Object.entries(tokens ?? {})) {
    if (typeof userId !== "string" || !/^@[^:]+:.+$/.test(userId))
      throw new ConfigError(
        // Only a prefix of the token: the message ends up in logs.
        `auth.tokens: token ${token.slice(0, 4)}… must map to a user ID like @alice:example.org`,
        { option: "auth.tokens" },
      );
  }
  return {
    ...(auth.homeserverUrl !== undefined && {
      homeserverUrl: readString(auth.homeserverUrl, "auth.homeserverUrl"),
    }),
    ...(tokens && { tokens: tokens as Record<string, string> }),
    admins: readStringList(auth.admins, "auth.admins") ?? [],
    cacheMs: readInt(auth.cacheMs, "auth.cacheMs", 60_000, 0),
  };
}

function resolveThumbnails(thumbnails: ConfigObject): ThumbnailsConfig {
  if (thumbnails.sizes !== undefined && !Array.isArray(thumbnails.sizes))
    throw new ConfigError("Expected a list for thumbnails.sizes", { option: "thumbnails.sizes" });
  const sizes =
    thumbnails.sizes === undefined
      ? undefined
      : (thumbnails.sizes as unknown[]).map((s, n) => {
          const key = `thumbnails.sizes[${n}]`;
          const o = readObject(s, key);
          const method = readString(o.method, `${key}.method`);
          if (method !== "crop" && method !== "scale")
            throw new ConfigError(`${key}.method must be crop or scale`, {
              option: `${key}.method`,
            });
          return {
            width: readInt(o.width, `${key}.width`, 0, 1, 10_000),
            height: readInt(o.height, `${key}.height`, 0, 1, 10_000),
            method: method === "crop" ? ("crop" as const) : ("scale" as const),
          };
        });
  return {
    enabled: readBool(thumbnails.enabled, "thumbnails.enabled", true),
    ...(sizes && { sizes }),
    ...(thumbnails.maxPixels !== undefined && {
      maxPixels: readInt(thumbnails.maxPixels, "thumbnails.maxPixels", 0, 1),
    }),
    ...(thumbnails.animated !== undefined && {
      animated: readBool(thumbnails.animated, "thumbnails.animated", true),
    }),
    ...(thumbnails.dynamic !== undefined && {
      dynamic: readBool(thumbnails.dynamic, "thumbnails.dynamic", false),
    }),
    ...(thumbnails.maxSourceBytes !== undefined && {
      maxSourceBytes: readBytes(thumbnails.maxSourceBytes, "thumbnails.maxSourceBytes", 0),
    }),
    ...(thumbnails.maxSourceMemoryBytes !== undefined && {
      maxSourceMemoryBytes: readBytes(
        thumbnails.maxSourceMemoryBytes,
        "thumbnails.maxSourceMemoryBytes",
        0,
      ),
    }),
    ...(thumbnails.video !== undefined && {
      video: resolveVideoThumbnails(thumbnails.video),
    }),
    ...(thumbnails.maxDynamicPerMedia !== undefined && {
      maxDynamicPerMedia: readInt(
        thumbnails.maxDynamicPerMedia,
        "thumbnails.maxDynamicPerMedia",
        0,
        0,
      ),
    }),
  };
}

function resolvePreviews(previews: ConfigObject): PreviewsConfig {
  return {
    enabled: readBool(previews.enabled, "previews.enabled", false),
    ...(previews.allowRanges !== undefined && {
      allowRanges: readStringList(previews.allowRanges, "previews.allowRanges")!,
    }),
    ...(previews.denyRanges !== undefined && {
      denyRanges: readStringList(previews.denyRanges, "previews.denyRanges")!,
    }),
    ...(previews.userAgent !== undefined && {
      userAgent: readString(previews.userAgent, "previews.userAgent"),
    }),
  };
}
