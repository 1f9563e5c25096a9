// Configuration of the standalone media server: YAML file (--config FILE or MEDIA_CONFIG)
// over embedded defaults, MACHINE_ID from the environment. Every value is validated with a
// message naming the key; nothing is silently clamped.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { parseMachineId } from "matrix-media-kit/ids";

export type Kind = "local" | "remote" | "thumbnail" | "preview" | "archive";
const KINDS: readonly Kind[] = ["local", "remote", "thumbnail", "preview", "archive"];

export interface DatastoreConfig {
  id: string;
  type: "fs" | "s3";
  kinds: Kind[];
  readOnly?: boolean;
  /** Driver options (fs: root; s3: bucket, endpoint, region, credentials, ...). */
  [option: string]: unknown;
}

export interface StandaloneConfig {
  serverName: string;
  listen: { host: string; port: number };
  /** From MACHINE_ID (or the config); undefined: lease a free one with Redis, else 0. */
  machineId: number | undefined;
  datastores: DatastoreConfig[];
  cache: {
    memory: { maxBytes: number };
    redis?: {
      shards: string[];
      namespace?: string;
      commandTimeoutMs?: number;
      maxItemBytes?: number;
    };
  };
  metadata: { postgres?: string; embedded?: string };
  auth: {
    homeserverUrl?: string;
    tokens?: Record<string, string>;
    admins: string[];
    cacheMs: number;
  };
  limits: { maxUploadBytes: number; maxPendingPerUser?: number };
  thumbnails: {
    enabled: boolean;
    sizes?: Array<{ width: number; height: number; method: "crop" | "scale" }>;
    maxPixels?: number;
    animated?: boolean;
    dynamic?: boolean;
  };
  previews: { enabled: boolean; allowRanges?: string[]; denyRanges?: string[]; userAgent?: string };
  freezeLegacy: boolean;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function obj(v: unknown, key: string): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new ConfigError(`Expected a mapping for ${key}`);
  return v;
}
function str(v: unknown, key: string, fallback?: string): string {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${key} is required`);
  }
  if (typeof v !== "string" || v === "")
    throw new ConfigError(`Expected a non-empty string for ${key}`);
  return v;
}
function int(
  v: unknown,
  key: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined || v === null) return fallback;
  const n = typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(
      `Expected an integer ${min}–${max} for ${key} but received ${JSON.stringify(v)}`,
    );
  }
  return n;
}
function bool(v: unknown, key: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw new ConfigError(`Expected true or false for ${key}`);
  return v;
}
function strList(v: unknown, key: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new ConfigError(`Expected a list of strings for ${key}`);
  }
  return v as string[];
}
/** "50MiB", "1 GB", 1048576 → bytes. */
function bytes(v: unknown, key: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === "number") return int(v, key, fallback, 1);
  const m =
    typeof v === "string"
      ? /^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$/i.exec(v)
      : null;
  if (!m)
    throw new ConfigError(
      `Expected a size such as 50MiB for ${key} but received ${JSON.stringify(v)}`,
    );
  const unit = (m[2] ?? "B").toLowerCase();
  const mult: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: 1024 ** 2,
    gb: 1e9,
    gib: 1024 ** 3,
  };
  return Math.floor(Number(m[1]) * mult[unit]!);
}

/** Reads the config file named by --config or MEDIA_CONFIG (optional) and validates it. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): StandaloneConfig {
  const i = argv.indexOf("--config");
  const file = i >= 0 ? argv[i + 1] : env.MEDIA_CONFIG;
  if (i >= 0 && !file) throw new ConfigError("--config needs a file name");
  let raw: unknown = {};
  if (file) {
    try {
      raw = parseYaml(readFileSync(file, "utf8")) ?? {};
    } catch (err) {
      throw new ConfigError(`Cannot read config ${file}: ${(err as Error).message}`);
    }
  }
  return resolveConfig(raw, env, file ? path.dirname(path.resolve(file)) : process.cwd());
}

/** Validates a parsed config object and fills defaults (paths relative to `baseDir`). */
export function resolveConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  baseDir: string,
): StandaloneConfig {
  const c = obj(raw, "the config");
  const known = [
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
    "freezeLegacy",
  ];
  for (const k of Object.keys(c))
    if (!known.includes(k)) throw new ConfigError(`Unknown config key ${k}`);
  const rel = (p: string) => path.resolve(baseDir, p);

  const listen = obj(c.listen, "listen");
  const machineRaw =
    env.MACHINE_ID ??
    (typeof c.machineId === "number" || typeof c.machineId === "string"
      ? String(c.machineId)
      : c.machineId === undefined
        ? undefined
        : "invalid");
  const machineId = machineRaw === undefined ? undefined : parseMachineId(machineRaw);

  const datastoresRaw = c.datastores ?? [
    {
      id: "local",
      type: "fs",
      kinds: ["local", "remote", "thumbnail", "preview", "archive"],
      root: "./data/media",
    },
  ];
  if (!Array.isArray(datastoresRaw) || datastoresRaw.length === 0) {
    throw new ConfigError("Expected a non-empty list for datastores");
  }
  const ids = new Set<string>();
  const datastores = datastoresRaw.map((d, n): DatastoreConfig => {
    const o = obj(d, `datastores[${n}]`);
    const id = str(o.id, `datastores[${n}].id`);
    if (ids.has(id)) throw new ConfigError(`datastores[${n}].id "${id}" is used twice`);
    ids.add(id);
    const type = str(o.type, `datastores[${n}].type`);
    if (type !== "fs" && type !== "s3")
      throw new ConfigError(`datastores[${n}].type must be fs or s3`);
    const kinds = (strList(o.kinds, `datastores[${n}].kinds`) ?? []) as Kind[];
    for (const k of kinds)
      if (!KINDS.includes(k)) throw new ConfigError(`datastores[${n}].kinds: unknown kind ${k}`);
    if (type === "fs") o.root = rel(str(o.root, `datastores[${n}].root`));
    if (type === "s3") str(o.bucket, `datastores[${n}].bucket`);
    return {
      ...o,
      id,
      type,
      kinds,
      readOnly: bool(o.readOnly, `datastores[${n}].readOnly`, false),
    };
  });
  const writable = datastores.filter((d) => !d.readOnly);
  // Other kinds fall back to the "local" datastore (routeByKind), so only "local" is required.
  if (!writable.some((d) => d.kinds.includes("local"))) {
    throw new ConfigError(
      `No writable datastore has kind "local": add it to one datastore's kinds`,
    );
  }

  const cache = obj(c.cache, "cache");
  const redis = cache.redis === undefined ? undefined : obj(cache.redis, "cache.redis");
  const metadata = obj(c.metadata, "metadata");
  if (metadata.postgres !== undefined && metadata.embedded !== undefined) {
    throw new ConfigError("Set either metadata.postgres or metadata.embedded, not both");
  }
  const auth = obj(c.auth, "auth");
  const tokens = auth.tokens === undefined ? undefined : obj(auth.tokens, "auth.tokens");
  for (const [t, u] of Object.entries(tokens ?? {})) {
    if (typeof u !== "string" || !/^@[^:]+:.+$/.test(u))
      throw new ConfigError(
        `auth.tokens: token ${t.slice(0, 4)}… must map to a user ID like @alice:example.org`,
      );
  }
  const limits = obj(c.limits, "limits");
  const thumbnails = obj(c.thumbnails, "thumbnails");
  const previews = obj(c.previews, "previews");
  const sizes =
    thumbnails.sizes === undefined
      ? undefined
      : (thumbnails.sizes as unknown[]).map((s, n) => {
          const o = obj(s, `thumbnails.sizes[${n}]`);
          const method = str(o.method, `thumbnails.sizes[${n}].method`);
          if (method !== "crop" && method !== "scale")
            throw new ConfigError(`thumbnails.sizes[${n}].method must be crop or scale`);
          return {
            width: int(o.width, `thumbnails.sizes[${n}].width`, 0, 1, 10_000),
            height: int(o.height, `thumbnails.sizes[${n}].height`, 0, 1, 10_000),
            method: method === "crop" ? ("crop" as const) : ("scale" as const),
          };
        });

  return {
    serverName: str(c.serverName, "serverName", "localhost:8008"),
    listen: {
      host: str(listen.host, "listen.host", "127.0.0.1"),
      port: int(listen.port, "listen.port", 8008, 0, 65535),
    },
    machineId,
    datastores,
    cache: {
      memory: {
        maxBytes: bytes(
          obj(cache.memory, "cache.memory").maxBytes,
          "cache.memory.maxBytes",
          256 * 1024 ** 2,
        ),
      },
      ...(redis && {
        redis: {
          shards: strList(redis.shards, "cache.redis.shards") ?? [],
          ...(redis.namespace !== undefined && {
            namespace: str(redis.namespace, "cache.redis.namespace"),
          }),
          ...(redis.commandTimeoutMs !== undefined && {
            commandTimeoutMs: int(redis.commandTimeoutMs, "cache.redis.commandTimeoutMs", 250, 1),
          }),
          ...(redis.maxItemBytes !== undefined && {
            maxItemBytes: bytes(redis.maxItemBytes, "cache.redis.maxItemBytes", 0),
          }),
        },
      }),
    },
    metadata:
      metadata.postgres !== undefined
        ? { postgres: str(metadata.postgres, "metadata.postgres") }
        : { embedded: rel(str(metadata.embedded, "metadata.embedded", "./data/metadata")) },
    auth: {
      ...(auth.homeserverUrl !== undefined && {
        homeserverUrl: str(auth.homeserverUrl, "auth.homeserverUrl"),
      }),
      ...(tokens && { tokens: tokens as Record<string, string> }),
      admins: strList(auth.admins, "auth.admins") ?? [],
      cacheMs: int(auth.cacheMs, "auth.cacheMs", 60_000, 0),
    },
    limits: {
      maxUploadBytes: bytes(limits.maxUploadBytes, "limits.maxUploadBytes", 100 * 1024 ** 2),
      ...(limits.maxPendingPerUser !== undefined && {
        maxPendingPerUser: int(limits.maxPendingPerUser, "limits.maxPendingPerUser", 10, 1),
      }),
    },
    thumbnails: {
      enabled: bool(thumbnails.enabled, "thumbnails.enabled", true),
      ...(sizes && { sizes }),
      ...(thumbnails.maxPixels !== undefined && {
        maxPixels: int(thumbnails.maxPixels, "thumbnails.maxPixels", 0, 1),
      }),
      ...(thumbnails.animated !== undefined && {
        animated: bool(thumbnails.animated, "thumbnails.animated", true),
      }),
      ...(thumbnails.dynamic !== undefined && {
        dynamic: bool(thumbnails.dynamic, "thumbnails.dynamic", false),
      }),
    },
    previews: {
      enabled: bool(previews.enabled, "previews.enabled", false),
      ...(previews.allowRanges !== undefined && {
        allowRanges: strList(previews.allowRanges, "previews.allowRanges")!,
      }),
      ...(previews.denyRanges !== undefined && {
        denyRanges: strList(previews.denyRanges, "previews.denyRanges")!,
      }),
      ...(previews.userAgent !== undefined && {
        userAgent: str(previews.userAgent, "previews.userAgent"),
      }),
    },
    freezeLegacy: bool(c.freezeLegacy, "freezeLegacy", false),
  };
}
