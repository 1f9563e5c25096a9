// Turning shard URLs into ioredis options, without loading ioredis until a client is built.
import { isIP } from "node:net";
import type { Redis, RedisOptions } from "ioredis";
import { ConfigError } from "../errors.js";

/** @internal The ioredis module, imported on first use so `matrix-media-kit/cache` stays light. */
export async function loadIoredis(): Promise<{ Redis: typeof Redis }> {
  const module = await import("ioredis");
  return { Redis: module.Redis };
}

/** @internal */
export interface ParsedRedisUrl {
  /** The URL without credentials: safe for logs and stable across password rotations. */
  name: string;
  options: RedisOptions;
}

/**
 * @internal
 * Accepts `redis://[user:pass@]host[:port][/db]`, `rediss://…` (TLS) and
 * `unix:///path/to.sock[?db=N&password=…&username=…]`.
 */
export function parseRedisUrl(raw: string, option: string): ParsedRedisUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `Expected a redis://, rediss:// or unix:// URL for ${option} but received ${JSON.stringify(redact(raw))}`,
      { option },
    );
  }
  const query = url.searchParams;
  const username = decodeURIComponent(url.username) || query.get("username") || undefined;
  const password = decodeURIComponent(url.password) || query.get("password") || undefined;
  const dbText =
    url.protocol === "unix:" ? query.get("db") : url.pathname.replace(/^\//, "") || query.get("db");
  let db: number | undefined;
  if (dbText) {
    db = Number(dbText);
    if (!Number.isSafeInteger(db) || db < 0) {
      throw new ConfigError(
        `Expected a database number in ${option} but received ${JSON.stringify(dbText)}`,
        { option },
      );
    }
  }
  const auth = {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(db ? { db } : {}),
  };
  switch (url.protocol) {
    case "unix:": {
      const path = decodeURIComponent(url.pathname);
      if (path === "" || path === "/")
        throw new ConfigError(
          `Expected a socket path in ${option}, e.g. unix:///run/redis/redis.sock`,
          { option },
        );
      return { name: `unix://${path}${db ? `?db=${db}` : ""}`, options: { path, ...auth } };
    }
    case "redis:":
    case "rediss:": {
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
      const port = url.port === "" ? 6379 : Number(url.port);
      return {
        name: `${url.protocol}//${url.host || host}${db ? `/${db}` : ""}`,
        options: {
          host,
          port,
          ...auth,
          // SNI only for names: RFC 6066 forbids IP addresses there (Node checks IP SANs anyway).
          ...(url.protocol === "rediss:"
            ? { tls: isIP(host) === 0 ? { servername: host } : {} }
            : {}),
        },
      };
    }
    default:
      throw new ConfigError(
        `Expected a redis://, rediss:// or unix:// URL for ${option} but received ${JSON.stringify(redact(raw))}`,
      );
  }
}

/** @internal Removes a password from a URL-ish string for messages. */
export function redact(text: string): string {
  return text.replace(/\/\/([^/@]*)@/, "//***@").replace(/([?&]password=)[^&]*/, "$1***");
}

/**
 * @internal
 * Options that make a client fail fast: nothing is queued while disconnected, nothing is
 * re-sent after a reconnect (a timed-out write must never land later), no hidden retries.
 */
export const FAIL_FAST: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  enableReadyCheck: false,
  retryStrategy: () => null,
  reconnectOnError: () => false,
};

/** @internal Runs `promise` with a deadline; rejects with a timeout error after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CacheTimeoutError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** @internal */
export class CacheTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CacheTimeoutError";
  }
}

/** @internal Quietly ends a client we own. */
export function dispose(client: Redis): void {
  client.removeAllListeners("close");
  client.removeAllListeners("end");
  client.disconnect(false);
}
