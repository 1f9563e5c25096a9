// The Redis ring: keys sharded by rendezvous hashing over disposable Redis servers. Fail fast
// and fail open: per-command deadlines, a breaker per shard with background probes, writes
// that cannot land late, and deletes that survive a shard's absence.
import type { Cluster, Redis, RedisOptions } from "ioredis";
import { createEmitter, toError, type CacheMetricsHook } from "./events.js";
import { HashRing } from "./hash-ring.js";
import { checkKey, checkSet, positiveInteger } from "./memory.js";
import {
  FAIL_FAST,
  dispose,
  loadIoredis,
  parseRedisUrl,
  redact,
  withTimeout,
  CacheTimeoutError,
} from "./redis-client.js";
import { singleFlight } from "./single-flight.js";
import type { CacheSetOptions, MediaCache } from "./types.js";

/**
 * One shard: a URL (`redis://[user:pass@]host:port[/db]`, `rediss://…` for TLS,
 * `unix:///path/to.sock[?password=…&db=N]`), or an object with a URL or an injected ioredis
 * client (`Redis`, or a `Cluster` for operators who already run one).
 */
export type RedisShard =
  | string
  | {
      /** Name on the ring. @defaultValue the URL without credentials (required with `client`) */
      name?: string;
      url?: string;
      /** An ioredis client you built and own (not closed by `close()`). */
      client?: Redis | Cluster;
    };

/** Options of {@link redisRingCache}. */
export interface RedisRingCacheOptions {
  /** The shards. One is enough for most deployments; 3+ for large or shared ones. */
  shards: readonly RedisShard[];
  /** Key prefix, so a shared Redis is safe: keys are `${namespace}:v1:${key}`. @defaultValue "mmk" */
  namespace?: string;
  /** Deadline of every command; a late reply is a miss. @defaultValue 250 */
  commandTimeoutMs?: number;
  /** Deadline of opening a connection (TCP, TLS, AUTH and a TIME round trip). @defaultValue 1000 */
  connectTimeoutMs?: number;
  /** Values longer than this are not cached. @defaultValue 8 MiB */
  maxItemBytes?: number;
  /** TTL of entries set without `ttlMs`; `undefined` leaves eviction to Redis (allkeys-lfu). @defaultValue undefined */
  defaultTtlMs?: number;
  /** Consecutive failures (timeouts, resets) that open a shard's breaker. @defaultValue 3 */
  failureThreshold?: number;
  /** Interval of the background probe of a shard whose breaker is open. @defaultValue 1000 */
  probeIntervalMs?: number;
  /** Writes in flight at once, for the whole ring. @defaultValue 64 */
  maxConcurrentWrites?: number;
  /**
   * Writes waiting for a slot; more are dropped (it is a cache), and so is a write that
   * waited longer than `commandTimeoutMs`. @defaultValue 256
   */
  maxQueuedWrites?: number;
  /**
   * Keys deleted while a shard was unreachable, remembered per shard and deleted there
   * before the shard is used again; past this many, the shard's whole namespace is purged
   * on rejoin instead. @defaultValue 10000
   */
  maxPendingDeletes?: number;
  /**
   * Extra ioredis options for URL shards, e.g. `{ tls: { ca } }` (TLS options apply to
   * `rediss://` shards only); the fail-fast options (no offline queue, no replay, no
   * automatic reconnect: the ring probes instead) always win.
   */
  redisOptions?: RedisOptions;
  /** Name used in events. @defaultValue "ring" */
  name?: string;
  /** Receives every {@link CacheEvent}. */
  metrics?: CacheMetricsHook;
  /** Wall clock in ms, for write deadlines compared with the server's TIME. @defaultValue Date.now */
  now?: () => number;
}

/**
 * Defaults of {@link redisRingCache}.
 *
 * @example
 * ```ts
 * import { DEFAULT_REDIS_RING_OPTIONS, redisRingCache } from "matrix-media-kit/cache";
 * const ring = redisRingCache({ shards: ["redis://127.0.0.1:6379"], commandTimeoutMs: DEFAULT_REDIS_RING_OPTIONS.commandTimeoutMs * 2 });
 * ```
 */
export const DEFAULT_REDIS_RING_OPTIONS = Object.freeze({
  /** @defaultValue "mmk" */
  namespace: "mmk",
  /** @defaultValue 250 */
  commandTimeoutMs: 250,
  /** @defaultValue 1000 */
  connectTimeoutMs: 1000,
  /** @defaultValue 8 MiB */
  maxItemBytes: 8 * 1024 * 1024,
  /** @defaultValue 3 */
  failureThreshold: 3,
  /** @defaultValue 1000 */
  probeIntervalMs: 1000,
  /** @defaultValue 64 */
  maxConcurrentWrites: 64,
  /** @defaultValue 256 */
  maxQueuedWrites: 256,
  /** @defaultValue 10000 */
  maxPendingDeletes: 10_000,
  /** @defaultValue "ring" */
  name: "ring",
});

/** The state of one shard, from {@link RedisRingCache.status}. */
export interface RedisShardStatus {
  name: string;
  /** `idle`: not connected yet; `down`: breaker open, probed in the background. */
  state: "idle" | "connecting" | "up" | "down" | "closed";
  /** Deletes waiting for the shard to come back. */
  pendingDeletes: number;
  /** True when the pending list overflowed: the namespace is purged on rejoin. */
  purgeOnRejoin: boolean;
}

/** The object {@link redisRingCache} returns. */
export interface RedisRingCache extends MediaCache {
  readonly shared: true;
  /** The current ring. */
  readonly ring: HashRing;
  /** Connects every shard now (bounded by `connectTimeoutMs`); never rejects. */
  connect(): Promise<void>;
  /**
   * Replaces the shard list at runtime (config reload). Shards whose name and target are
   * unchanged keep their connections; removed shards are closed; new ones connect lazily.
   */
  setShards(shards: readonly RedisShard[]): Promise<void>;
  /** Per-shard state, for health checks. */
  status(): RedisShardStatus[];
  /** Deletes every key of the namespace on every reachable shard (SCAN + UNLINK). */
  clear(): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

type Client = Redis | Cluster;

const isCluster = (client: Client): boolean =>
  (client as { isCluster?: boolean }).isCluster === true;

interface Deadline {
  readonly at: number;
  readonly shard: Shard;
  /** The shard's connection incarnation when the command was sent. */
  readonly incarnation: number;
  /** Timed out and its reply not arrived yet: counted in `shard.lagging`. */
  late: boolean;
  /** Cleared once settled: a resolved promise keeps its value, so the entry must not keep it. */
  reject: ((error: Error) => void) | undefined;
}

interface Shard {
  readonly name: string;
  /** Identity of the target: the URL (with credentials) or the injected client. */
  readonly target: string | Client;
  readonly owned: boolean;
  readonly options: RedisOptions | undefined;
  client: Client | undefined;
  state: RedisShardStatus["state"];
  failures: number;
  opening: Promise<void> | undefined;
  probing: boolean;
  probeTimer: NodeJS.Timeout | undefined;
  drainTimer: NodeJS.Timeout | undefined;
  pending: Set<string>;
  purge: boolean;
  /** Server clock minus local clock, from the last TIME round trip. */
  offsetMs: number;
  /** performance.now() of the last reply (value or error reply) from the shard. */
  lastReplyAt: number;
  /** True while the shard's socket is corked until the next tick. */
  corked: boolean;
  /**
   * Commands that timed out and whose reply has not arrived yet. Non-zero means the shard
   * answers later than the deadline: new reads and writes are shed (a miss, a dropped write)
   * instead of deepening a backlog whose replies would all come too late.
   */
  lagging: number;
  /** Bumped for every new connection, so late replies of an old one are not counted. */
  incarnation: number;
}

/**
 * A cache sharded over Redis servers by consistent hashing ({@link HashRing}): each key
 * lives on exactly one shard, so adding capacity adds memory (not copies).
 *
 * Failure behaviour: every command has a deadline (`commandTimeoutMs`); a shard that fails
 * `failureThreshold` times in a row, or whose connection closes, is taken out (breaker
 * open): its keys are **misses** (not re-routed to the next shard) until a background
 * probe finds it healthy and re-adds it. Nothing is queued while disconnected and nothing
 * is replayed after a reconnect; a write that reaches a server after its deadline is
 * refused by the server. `delete` goes to every shard, and a shard that missed a delete
 * gets it (or a purge of the namespace) before it serves again.
 *
 * ioredis is imported when the first shard connects, not when this module loads.
 *
 * @example
 * ```ts
 * import { redisRingCache } from "matrix-media-kit/cache";
 *
 * const ring = redisRingCache({
 *   shards: ["redis://:secret@cache-1:6379", "rediss://cache-2:6380", "unix:///run/redis/redis.sock"],
 *   commandTimeoutMs: 250,
 * });
 * await ring.connect();
 * await ring.set("remote:matrix.org/AbCd", bytes);
 * const cached = await ring.get("remote:matrix.org/AbCd"); // a miss, never an error, if a shard is down
 * await ring.setShards([...newShardList]); // on config reload
 * await ring.close();
 * ```
 */
export function redisRingCache(options: RedisRingCacheOptions): RedisRingCache {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      'redisRingCache needs options, e.g. redisRingCache({ shards: ["redis://127.0.0.1:6379"] })',
    );
  }
  const D = DEFAULT_REDIS_RING_OPTIONS;
  const namespace = options.namespace ?? D.namespace;
  if (typeof namespace !== "string" || namespace === "" || namespace.includes("*")) {
    throw new TypeError(
      `Expected a non-empty string without "*" for redisRingCache namespace but received ${JSON.stringify(namespace)}`,
    );
  }
  const prefix = `${namespace}:v1:`;
  const timeoutMs = positiveInteger(
    options.commandTimeoutMs ?? D.commandTimeoutMs,
    "redisRingCache commandTimeoutMs",
  );
  const connectTimeoutMs = positiveInteger(
    options.connectTimeoutMs ?? D.connectTimeoutMs,
    "redisRingCache connectTimeoutMs",
  );
  const maxItemBytes = positiveInteger(
    options.maxItemBytes ?? D.maxItemBytes,
    "redisRingCache maxItemBytes",
  );
  const defaultTtlMs =
    options.defaultTtlMs === undefined
      ? undefined
      : positiveInteger(options.defaultTtlMs, "redisRingCache defaultTtlMs");
  const failureThreshold = positiveInteger(
    options.failureThreshold ?? D.failureThreshold,
    "redisRingCache failureThreshold",
  );
  const probeIntervalMs = positiveInteger(
    options.probeIntervalMs ?? D.probeIntervalMs,
    "redisRingCache probeIntervalMs",
  );
  const maxConcurrentWrites = positiveInteger(
    options.maxConcurrentWrites ?? D.maxConcurrentWrites,
    "redisRingCache maxConcurrentWrites",
  );
  const maxQueuedWrites = positiveInteger(
    options.maxQueuedWrites ?? D.maxQueuedWrites,
    "redisRingCache maxQueuedWrites",
    true,
  );
  const maxPendingDeletes = positiveInteger(
    options.maxPendingDeletes ?? D.maxPendingDeletes,
    "redisRingCache maxPendingDeletes",
    true,
  );
  const name = options.name ?? D.name;
  const now = options.now ?? Date.now;
  const events = createEmitter(options.metrics);
  let closed = false;

  const buildShards = (specs: readonly RedisShard[], option: string): Shard[] => {
    const input: unknown = specs;
    if (!Array.isArray(input)) throw new TypeError(`Expected an array for ${option}`);
    return specs.map((spec, i): Shard => {
      const where = `${option}[${i}]`;
      let shardName: string;
      let target: string | Client;
      let shardOptions: RedisOptions | undefined;
      if (
        typeof spec === "string" ||
        (typeof spec === "object" && spec !== null && spec.url !== undefined)
      ) {
        const url = typeof spec === "string" ? spec : spec.url!;
        if (typeof spec === "object" && spec.client !== undefined)
          throw new TypeError(`${where}: give url or client, not both`);
        const parsed = parseRedisUrl(url, where);
        shardName = (typeof spec === "object" ? spec.name : undefined) ?? parsed.name;
        target = url;
        shardOptions = parsed.options;
      } else if (typeof spec === "object" && spec !== null && spec.client !== undefined) {
        if (typeof spec.name !== "string" || spec.name === "") {
          throw new TypeError(
            `${where}: a shard given as a client needs a name (its stable place on the ring)`,
          );
        }
        shardName = spec.name;
        target = spec.client;
      } else {
        throw new TypeError(`${where}: expected a URL string or { url } or { name, client }`);
      }
      return {
        name: shardName,
        target,
        owned: typeof target === "string",
        options: shardOptions,
        client: typeof target === "string" ? undefined : target,
        state: "idle",
        failures: 0,
        opening: undefined,
        probing: false,
        probeTimer: undefined,
        drainTimer: undefined,
        pending: new Set(),
        purge: false,
        offsetMs: 0,
        lastReplyAt: 0,
        corked: false,
        lagging: 0,
        incarnation: 0,
      };
    });
  };

  const shardList: unknown = options.shards;
  if (!Array.isArray(shardList) || options.shards.length === 0) {
    throw new TypeError(
      'Expected at least one entry in redisRingCache shards, e.g. ["redis://127.0.0.1:6379"]',
    );
  }
  let shards = buildShards(options.shards, "redisRingCache shards");
  let ring = new HashRing(shards.map((s) => s.name));
  // Index on the ring (names sorted) → shard.
  let byIndex = ring.shards.map((n) => shards.find((s) => s.name === n)!);

  const fail = (op: string, error: unknown, shard?: Shard) => {
    if (events.enabled()) {
      events.emit({
        type: "error",
        cache: name,
        op,
        error: toError(error),
        ...(shard ? { shard: shard.name } : {}),
      });
    }
  };

  const markDown = (shard: Shard, reason: string) => {
    if (shard.state === "closed") return;
    if (shard.state !== "down") {
      shard.state = "down";
      if (events.enabled())
        events.emit({ type: "shard-down", cache: name, shard: shard.name, reason: redact(reason) });
    }
    shard.failures = 0;
    if (shard.owned && shard.client !== undefined) {
      // Drops whatever is still in flight on the old connection; a new one is opened by the probe.
      dispose(shard.client as Redis);
      shard.client = undefined;
    }
    if (shard.probeTimer === undefined && !closed) {
      shard.probeTimer = setInterval(() => void probe(shard), probeIntervalMs);
      shard.probeTimer.unref();
    }
  };

  const isReplyError = (error: unknown) => error instanceof Error && error.name === "ReplyError";

  const failure = (shard: Shard, client: Client, op: string, error: unknown) => {
    fail(op, error, shard);
    // The server answered: it is alive (e.g. OOM under maxmemory); not a breaker matter.
    if (isReplyError(error)) {
      shard.lastReplyAt = performance.now();
      return;
    }
    if (shard.client !== client || shard.state !== "up") return;
    // A timeout while other replies keep arriving is an overloaded shard, not a dead one:
    // that command is a miss, but the breaker stays closed.
    if (error instanceof CacheTimeoutError && performance.now() - shard.lastReplyAt < timeoutMs)
      return;
    if (++shard.failures >= failureThreshold) {
      markDown(shard, `${failureThreshold} consecutive failures, last: ${toError(error).message}`);
    }
  };

  const command = <T>(
    client: Client,
    run: (client: Client) => Promise<T>,
    what: string,
  ): Promise<T> => withTimeout(run(client), timeoutMs, what);

  // Deadlines of hot-path commands without a timer each: one sweep every `timeoutMs / 10`
  // rejects the expired ones (deadlines are in send order, so only the head is checked).
  // The sweep runs from setImmediate, after the event loop's poll phase: when this process
  // was stalled (GC, CPU starvation), replies that arrived meanwhile are delivered before
  // their commands are judged late, so our own stall is not blamed on the shard.
  const deadlines: Deadline[] = [];
  let head = 0;
  let sweeper: NodeJS.Timeout | undefined;
  const expire = () => {
    const t = performance.now();
    while (head < deadlines.length) {
      const entry = deadlines[head]!;
      const reject = entry.reject;
      if (reject !== undefined) {
        if (entry.at > t) break;
        entry.reject = undefined;
        if (entry.incarnation === entry.shard.incarnation) {
          entry.late = true;
          entry.shard.lagging++;
        }
        reject(new CacheTimeoutError(`command timed out after ${timeoutMs} ms`));
      }
      head++;
    }
    if (head === deadlines.length) {
      deadlines.length = 0;
      head = 0;
      clearInterval(sweeper);
      sweeper = undefined;
    } else if (head > 1024) {
      deadlines.splice(0, head);
      head = 0;
    }
  };
  const sweep = () => void setImmediate(expire);
  const timed = <T>(shard: Shard, promise: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const entry: Deadline = {
        at: performance.now() + timeoutMs,
        shard,
        incarnation: shard.incarnation,
        late: false,
        reject,
      };
      const arrived = () => {
        if (entry.late && entry.incarnation === shard.incarnation) shard.lagging--;
        entry.late = false;
      };
      deadlines.push(entry);
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, Math.max(5, Math.floor(timeoutMs / 10)));
        sweeper.unref();
      }
      promise.then(
        (value) => {
          shard.lastReplyAt = performance.now();
          arrived();
          if (entry.reject === undefined) return;
          entry.reject = undefined;
          resolve(value);
        },
        (error: unknown) => {
          arrived();
          if (entry.reject === undefined) return;
          entry.reject = undefined;
          reject(toError(error));
        },
      );
    });

  // Commands issued in the same tick leave in one socket write: the socket is corked until
  // the next tick. This is what auto-pipelining is for, at a fraction of its cost (ioredis'
  // enableAutoPipelining measured slower here), and it matters most with several shards,
  // where each connection gets fewer commands per event-loop turn.
  const batch = (shard: Shard, client: Client) => {
    if (shard.corked || isCluster(client)) return;
    const stream = (client as Redis).stream;
    if (stream === undefined) return;
    shard.corked = true;
    stream.cork();
    process.nextTick(() => {
      shard.corked = false;
      stream.uncork();
    });
  };

  const clearNamespace = async (client: Client) => {
    // A Cluster's keys live on its masters: scan each of them.
    const nodes = isCluster(client) ? (client as Cluster).nodes("master") : [client as Redis];
    for (const redis of nodes) {
      let cursor = "0";
      do {
        const [next, keys] = await withTimeout(
          redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000),
          Math.max(timeoutMs, 1000),
          "SCAN",
        );
        cursor = next;
        // One UNLINK per key: in a Cluster, keys of one batch may belong to different slots.
        if (keys.length > 0) {
          await withTimeout(
            Promise.all(keys.map((key) => redis.unlink(key))),
            Math.max(timeoutMs, 1000),
            "UNLINK",
          );
        }
      } while (cursor !== "0");
    }
  };

  // Makes a (re)joining shard safe to read: deletes it missed are applied first.
  const hygiene = async (shard: Shard, client: Client): Promise<"none" | "keys" | "namespace"> => {
    if (shard.purge) {
      await clearNamespace(client);
      shard.purge = false;
      shard.pending.clear();
      return "namespace";
    }
    if (shard.pending.size === 0) return "none";
    // Deletes keep arriving while this runs (the shard is still down for them): loop until
    // none is left.
    while (shard.pending.size > 0) {
      const batch = [...shard.pending].slice(0, 500);
      // One UNLINK per key (a Cluster refuses multi-key commands across slots).
      await command(client, (c) => Promise.all(batch.map((k) => c.unlink(prefix + k))), "UNLINK");
      for (const key of batch) shard.pending.delete(key);
    }
    return "keys";
  };

  // Opens (or checks) the shard's connection; resolves true when it may serve again.
  const attach = async (shard: Shard): Promise<boolean> => {
    let client = shard.client;
    try {
      if (shard.owned) {
        const { Redis: RedisClass } = await loadIoredis();
        if (closed || shard.state === "closed") return false;
        // redisOptions.tls (a private CA, client certificates) applies to rediss:// shards only.
        const tls =
          shard.options?.tls === undefined
            ? undefined
            : { ...options.redisOptions?.tls, ...shard.options.tls };
        const created = new RedisClass({
          ...options.redisOptions,
          ...shard.options,
          tls,
          ...FAIL_FAST,
          connectTimeout: connectTimeoutMs,
          connectionName: `mmk-${name}`,
        });
        client = created;
        created.on("error", (error: Error) => fail("connection", error, shard));
        created.on("close", () => {
          if (shard.client === created && shard.state === "up")
            markDown(shard, "connection closed");
        });
        await withTimeout(created.connect(), connectTimeoutMs, `connecting to ${shard.name}`);
      } else if (client !== undefined && (client as Redis).status === "wait") {
        await withTimeout(client.connect(), connectTimeoutMs, `connecting to ${shard.name}`);
      }
      const c = client!;
      const t0 = now();
      const [seconds, micros] = (await command(c, (x) => x.time(), "TIME")) as [
        number | string,
        number | string,
      ];
      const t1 = now();
      shard.offsetMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (t0 + t1) / 2;
      let purged: "none" | "keys" | "namespace" = "none";
      // Re-checked after every await: the shard is marked up in the same turn as the last check.
      while (shard.purge || shard.pending.size > 0) {
        const done = await hygiene(shard, c);
        if (purged !== "namespace") purged = done;
      }
      if (closed || shard.state === "closed") {
        if (shard.owned) dispose(c as Redis);
        return false;
      }
      shard.client = c;
      shard.failures = 0;
      shard.incarnation++;
      shard.lagging = 0;
      shard.lastReplyAt = performance.now();
      shard.state = "up";
      if (shard.probeTimer !== undefined) {
        clearInterval(shard.probeTimer);
        shard.probeTimer = undefined;
      }
      if (events.enabled()) {
        events.emit({ type: "shard-up", cache: name, shard: shard.name, purged });
      }
      return true;
    } catch (error) {
      fail("connect", error, shard);
      if (shard.owned && client !== undefined && client !== shard.client) dispose(client as Redis);
      return false;
    }
  };

  const open = (shard: Shard): Promise<void> => {
    if (shard.opening !== undefined) return shard.opening;
    shard.state = "connecting";
    const opening = attach(shard).then((ok) => {
      shard.opening = undefined;
      if (!ok) markDown(shard, "could not connect");
    });
    shard.opening = opening;
    return opening;
  };

  async function probe(shard: Shard): Promise<void> {
    if (shard.probing || shard.state !== "down" || closed) return;
    shard.probing = true;
    try {
      await attach(shard);
    } finally {
      shard.probing = false;
    }
  }

  /** The client to use now, or undefined (breaker open, or the first connect failed). */
  const clientFor = async (shard: Shard): Promise<Client | undefined> => {
    if (shard.state === "up") return shard.client;
    if (shard.state === "idle" || shard.state === "connecting") {
      await withTimeout(open(shard), timeoutMs, "connect").catch(() => undefined);
      // (Re-read after the await: open() changed it.)
      return (shard.state as RedisShardStatus["state"]) === "up" ? shard.client : undefined;
    }
    return undefined;
  };

  // True when the shard is behind its deadline (see `lagging`): the command is not sent. A
  // shard with a late command and no reply at all for a whole timeout is not slow but
  // stuck (frozen, partitioned): its breaker opens.
  const shed = (shard: Shard): boolean => {
    if (shard.lagging === 0) return false;
    if (performance.now() - shard.lastReplyAt >= timeoutMs && shard.state === "up") {
      markDown(shard, `no reply for ${timeoutMs} ms`);
    }
    return true;
  };

  const get = async (key: string): Promise<Buffer | undefined> => {
    checkKey(key);
    const shard = byIndex[ring.indexFor(key)];
    if (shard === undefined) return undefined;
    let client = shard.state === "up" ? shard.client : await clientFor(shard);
    let value: Buffer | null | undefined;
    if (client !== undefined && shed(shard)) client = undefined;
    if (client !== undefined) {
      try {
        batch(shard, client);
        value = await timed(shard, client.getBuffer(prefix + key));
        shard.failures = 0;
      } catch (error) {
        failure(shard, client, "get", error);
      }
    }
    if (events.enabled()) {
      events.emit(
        value == null
          ? { type: "miss", cache: name, key, shard: shard.name }
          : { type: "hit", cache: name, key, bytes: value.length, shard: shard.name },
      );
    }
    return value ?? undefined;
  };

  // Bounded write concurrency; excess writes are dropped (it is a cache). A queued write
  // that waited longer than the command timeout is dropped too, so `set` never waits for
  // much more than two command timeouts however busy the queue is.
  let activeWrites = 0;
  const waiting: Array<{ at: number; go: (run: boolean) => void }> = [];
  const idle: Array<() => void> = [];
  const settle = () => {
    activeWrites--;
    const t = performance.now();
    for (let next = waiting.shift(); next !== undefined; next = waiting.shift()) {
      if (t - next.at <= timeoutMs) {
        next.go(true);
        return;
      }
      next.go(false);
    }
    if (activeWrites === 0) for (const resolve of idle.splice(0)) resolve();
  };
  const schedule = (task: () => Promise<void>): Promise<boolean> | undefined => {
    const run = () => {
      activeWrites++;
      return task().finally(settle);
    };
    if (activeWrites < maxConcurrentWrites) return run().then(() => true);
    if (waiting.length >= maxQueuedWrites) return undefined;
    return new Promise<boolean>((resolve) =>
      waiting.push({
        at: performance.now(),
        go: (go) => {
          if (go) void run().then(() => resolve(true));
          else resolve(false);
        },
      }),
    );
  };

  const runSet = async (
    shard: Shard,
    client: Client,
    key: string,
    value: Buffer,
    ttl: number | undefined,
  ) => {
    // The value is written with an absolute expiry at a deadline in the server's clock
    // (ours + the offset measured at connect), then made permanent (or given its TTL) by
    // the next command on the same connection. A write that sat in a frozen server's socket
    // buffer past the deadline therefore expires the moment it lands (Redis deletes a key
    // SET with a PXAT in the past) instead of overwriting anything with stale bytes; if the
    // server stops between the two commands, the key just expires: a miss.
    const deadline = Math.floor(now() + shard.offsetMs + 2 * timeoutMs);
    const redisKey = prefix + key;
    // Both commands leave in one write: the socket is corked until the next tick (cheaper
    // than an ioredis pipeline, which measured ~30% more CPU per write here).
    batch(shard, client);
    const written = client.set(redisKey, value, "PXAT", deadline);
    const made = ttl === undefined ? client.persist(redisKey) : client.pexpire(redisKey, ttl);
    await timed(shard, Promise.all([written, made]));
  };

  const set = async (key: string, value: Buffer, setOptions?: CacheSetOptions): Promise<void> => {
    checkSet(key, value, setOptions);
    if (value.length > maxItemBytes) {
      if (events.enabled())
        events.emit({ type: "skip", cache: name, key, bytes: value.length, reason: "too-large" });
      return;
    }
    const shard = byIndex[ring.indexFor(key)];
    if (shard === undefined || shard.state === "down" || closed) return;
    const ttl = setOptions?.ttlMs ?? defaultTtlMs;
    const write = schedule(async () => {
      const client = await clientFor(shard);
      if (client === undefined || shed(shard)) return;
      try {
        await runSet(shard, client, key, value, ttl);
        shard.failures = 0;
        if (events.enabled())
          events.emit({ type: "set", cache: name, key, bytes: value.length, shard: shard.name });
      } catch (error) {
        failure(shard, client, "set", error);
      }
    });
    const written = write === undefined ? false : await write;
    if (!written && events.enabled()) {
      events.emit({ type: "skip", cache: name, key, bytes: value.length, reason: "queue-full" });
    }
  };

  const remember = (shard: Shard, key: string) => {
    if (shard.purge) return;
    shard.pending.add(key);
    if (shard.pending.size > maxPendingDeletes) {
      shard.pending.clear();
      shard.purge = true;
    }
  };

  // Re-sends deletes that failed on a shard that stayed up (a single timeout).
  const scheduleDrain = (shard: Shard) => {
    if (shard.drainTimer !== undefined || closed) return;
    shard.drainTimer = setTimeout(() => {
      shard.drainTimer = undefined;
      const client = shard.client;
      if (shard.state !== "up" || client === undefined) return;
      hygiene(shard, client).catch((error: unknown) => {
        failure(shard, client, "delete", error);
        scheduleDrain(shard);
      });
    }, probeIntervalMs);
    shard.drainTimer.unref();
  };

  const deleteOn = async (shard: Shard, key: string): Promise<void> => {
    const client = await clientFor(shard);
    if (client === undefined) {
      remember(shard, key);
      // The shard may have come up meanwhile (a slow first connect): do not wait for a
      // next outage to apply it.
      if (shard.state === "up") scheduleDrain(shard);
      return;
    }
    try {
      await timed(shard, client.unlink(prefix + key));
      shard.failures = 0;
    } catch (error) {
      remember(shard, key);
      failure(shard, client, "delete", error);
      if (shard.state === "up") scheduleDrain(shard);
    }
  };

  const closeShard = (shard: Shard) => {
    shard.state = "closed";
    if (shard.probeTimer !== undefined) clearInterval(shard.probeTimer);
    if (shard.drainTimer !== undefined) clearTimeout(shard.drainTimer);
    shard.probeTimer = shard.drainTimer = undefined;
    if (shard.owned && shard.client !== undefined) dispose(shard.client as Redis);
    shard.client = undefined;
  };

  const flush = (): Promise<void> =>
    activeWrites === 0 && waiting.length === 0
      ? Promise.resolve()
      : new Promise((resolve) => idle.push(resolve));

  return {
    shared: true,
    get ring() {
      return ring;
    },
    get,
    set,
    async delete(key) {
      checkKey(key);
      // Every shard, not just the owner: after a ring change or with processes on different
      // shard lists, a copy can live elsewhere, and quarantine must remove them all.
      await Promise.all(shards.map((shard) => deleteOn(shard, key)));
      if (events.enabled()) events.emit({ type: "delete", cache: name, key });
    },
    getOrLoad: singleFlight(get, set),
    async connect() {
      await Promise.all(
        shards.map((shard) =>
          shard.state === "idle" ? open(shard) : (shard.opening ?? Promise.resolve()),
        ),
      );
    },
    async setShards(specs) {
      if (closed) return;
      const next = buildShards(specs, "setShards shards");
      const nextRing = new HashRing(next.map((s) => s.name));
      const kept = next.map((fresh) => {
        const old = shards.find((s) => s.name === fresh.name && s.target === fresh.target);
        return old ?? fresh;
      });
      const removed = shards.filter((s) => !kept.includes(s));
      shards = kept;
      ring = nextRing;
      byIndex = ring.shards.map((n) => shards.find((s) => s.name === n)!);
      for (const shard of removed) closeShard(shard);
    },
    status: () =>
      shards.map((s) => ({
        name: s.name,
        state: s.state,
        pendingDeletes: s.pending.size,
        purgeOnRejoin: s.purge,
      })),
    async clear() {
      await Promise.all(
        shards.map(async (shard) => {
          const client = await clientFor(shard);
          if (client === undefined) {
            shard.purge = true;
            shard.pending.clear();
            return;
          }
          await clearNamespace(client).catch((error: unknown) => {
            shard.purge = true;
            failure(shard, client, "clear", error);
          });
        }),
      );
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      for (const entry of waiting.splice(0)) entry.go(false);
      await Promise.race([flush(), new Promise((r) => setTimeout(r, timeoutMs * 2).unref())]);
      await Promise.all(shards.map((shard) => shard.opening ?? Promise.resolve()));
      for (const shard of shards) closeShard(shard);
    },
  };
}
