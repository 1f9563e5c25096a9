// The handler's rate limits and quotas from the config, behind stable functions so a SIGHUP
// reload can replace the limiter (in-process token bucket or Redis) without a new handler.
import { Redis } from "ioredis";
import {
  createRedisRateLimiter,
  defaultRateLimitKey,
  memoryUploadWindows,
  tokenBucketRateLimit,
  type MediaHandlerOptions,
  type RateLimitContext,
  type UploadQuotaOptions,
  type UploadWindowStore,
} from "../http/index.js";
import type { MediaServerConfig } from "./config-types.js";
import type { ServerLogger } from "./logger.js";
import type { ShutdownStack } from "./shutdown.js";

type Hook<K extends "rateLimit" | "downloadLimit"> = NonNullable<MediaHandlerOptions[K]>;

/** @internal */
export interface ServerLimits {
  rateLimit: Hook<"rateLimit">;
  downloadLimit: Hook<"downloadLimit">;
  /** The handler's `quotas` (windows in Redis with the Redis backend); absent: none. */
  quotas: UploadQuotaOptions | undefined;
  /** Applies `limits.rateLimit` of a (re)loaded config. */
  set(config: MediaServerConfig): void;
  /**
   * Waits (a bounded time) for the Redis connections, so the first requests are counted in
   * Redis rather than locally; one that does not connect is logged and limits fail open.
   */
  connect(): Promise<void>;
}

const CONNECT_WAIT_MS = 2_000;

/** A shard URL with its password hidden. */
const redact = (url: string) => url.replace(/\/\/[^/@]*@/, "//***@");

// Admins (bulk tools, synapse-admin) are not throttled.
const key = (context: RateLimitContext) =>
  context.user?.isAdmin ? undefined : defaultRateLimitKey(context);

/** @internal */
export function createServerLimits(
  config: MediaServerConfig,
  shutdown: ShutdownStack,
  logger: ServerLogger,
): ServerLimits {
  const clients = new Map<string, Redis>();
  const clientFor = (url: string) => {
    let client = clients.get(url);
    if (!client) {
      // No offline queue: while Redis is down a decision fails at once and is made locally.
      client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
      client.on("error", () => undefined); // reported by the limiter when a decision fails
      clients.set(url, client);
      const mine = client;
      shutdown.push(() => mine.disconnect());
    }
    return client;
  };
  let rateLimit: Hook<"rateLimit"> | undefined;
  let downloadLimit: Hook<"downloadLimit"> | undefined;
  const localWindows = memoryUploadWindows();
  let windows: UploadWindowStore = localWindows;
  const limits: ServerLimits = {
    rateLimit: (context) => rateLimit?.(context),
    downloadLimit: (context, bytes) => downloadLimit?.(context, bytes),
    quotas: undefined,
    async connect() {
      const waits = [...clients].map(([url, c]) =>
        c.status === "ready"
          ? Promise.resolve(true)
          : new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), CONNECT_WAIT_MS);
              c.once("ready", () => {
                clearTimeout(timer);
                resolve(true);
              });
            }).then((ok) => {
              if (!ok)
                logger.warn("rate limits: Redis is not reachable yet; counting locally", {
                  url: redact(url),
                });
              return ok;
            }),
      );
      await Promise.all(waits);
    },
    set(next) {
      const r = next.http.rateLimit;
      if (r === false || r.backend === "memory") {
        rateLimit =
          r === false
            ? undefined
            : tokenBucketRateLimit({ ratePerSecond: r.ratePerSecond, burst: r.burst, key });
        downloadLimit = undefined;
        windows = localWindows;
        return;
      }
      const urls = r.redis ?? next.cache.redis?.shards ?? [];
      const limiter = createRedisRateLimiter({
        redis: urls.map(clientFor),
        requests: { ratePerSecond: r.ratePerSecond, burst: r.burst },
        downloads: r.downloads,
        timeoutMs: r.timeoutMs,
        key,
        logger,
      });
      rateLimit = limiter.rateLimit;
      downloadLimit = limiter.downloadLimit;
      windows = limiter.uploadWindows;
    },
  };
  limits.set(config);
  const q = config.http.quotas;
  if (q) {
    limits.quotas = {
      ...q,
      windows: {
        used: (userId, periodMs) => windows.used(userId, periodMs),
        add: (userId, periodMs, bytes) => windows.add(userId, periodMs, bytes),
      },
    };
  }
  return limits;
}
