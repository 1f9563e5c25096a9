// The Redis ring: keys sharded by rendezvous hashing over disposable Redis servers. Fail fast
// and fail open: per-command deadlines, a breaker per shard with background probes, writes
// that cannot land late, and deletes that survive a shard's absence.
import { ConfigError } from "../../errors.js";
import { createEmitter } from "../events.js";
import { HashRing } from "../hash-ring.js";
import { singleFlight } from "../single-flight.js";
import type { CacheSetOptions, MediaCache } from "../types.js";
import { checkKey, checkSet } from "../validate.js";
import { behindDeadline, recordCommandFailure } from "./breaker.js";
import { connectShard, openShard, usableClient } from "./connect.js";
import type { RingContext } from "./context.js";
import { Deadlines } from "./deadlines.js";
import { clearNamespace, deleteOnShard } from "./delete-replay.js";
import { resolveRingOptions, type RedisRingCacheOptions, type RedisShard } from "./options.js";
import {
  closeShard,
  corkUntilNextTick,
  createShards,
  shardStatus,
  type Client,
  type RedisShardStatus,
  type Shard,
} from "./shard.js";
import { WriteQueue } from "./write-queue.js";

/** The object {@link redisRingCache} returns. */
export interface RedisRingCache extends MediaCache {
  readonly shared: true;
  /** The current ring. */
  readonly ring: HashRing;
  /** Connects every shard now (bounded by `connectTimeoutMs`); never rejects. */
  connect(): Promise<void>;
  /**
   * Replaces the shard list at runtime (config reload). Shards whose name and target are
   * unchanged keep their connections; removed shards are closed; new ones connect lazily
   * and have the namespace purged before they serve (a shard removed and re-added missed
   * the deletes made meanwhile).
   */
  setShards(shards: readonly RedisShard[]): Promise<void>;
  /** Per-shard state, for health checks. */
  status(): RedisShardStatus[];
  /** Deletes every key of the namespace on every reachable shard (SCAN + UNLINK). */
  clear(): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

interface RingState extends RingContext {
  readonly writes: WriteQueue;
  shards: Shard[];
  hashRing: HashRing;
  /** `hashRing.indexFor(key)` → shard. */
  byIndex: Shard[];
}

/** Index on the ring (names sorted) → shard. */
const indexShards = (hashRing: HashRing, shards: readonly Shard[]): Shard[] =>
  hashRing.shards.map((name) => shards.find((s) => s.name === name)!);

async function get(state: RingState, key: string): Promise<Buffer | undefined> {
  checkKey(key);
  const shard = state.byIndex[state.hashRing.indexFor(key)];
  if (shard === undefined) return undefined;
  let client = shard.state === "up" ? shard.client : await usableClient(state, shard);
  let value: Buffer | null | undefined;
  if (client !== undefined && behindDeadline(state, shard)) client = undefined;
  if (client !== undefined) {
    try {
      corkUntilNextTick(shard, client);
      value = await state.deadlines.track(shard, client.getBuffer(state.config.prefix + key));
      shard.consecutiveFailures = 0;
    } catch (error) {
      recordCommandFailure(state, shard, client, "get", error);
    }
  }
  if (state.events.enabled()) {
    const where = { cache: state.config.name, key, shard: shard.name };
    state.events.emit(
      value == null ? { type: "miss", ...where } : { type: "hit", ...where, bytes: value.length },
    );
  }
  return value ?? undefined;
}

function writeValue(
  state: RingState,
  shard: Shard,
  client: Client,
  key: string,
  value: Buffer,
  ttl: number | undefined,
): Promise<unknown> {
  // The value is written with an absolute expiry at a deadline in the server's clock
  // (ours + the offset measured at connect), then made permanent (or given its TTL) by
  // the next command on the same connection. A write that sat in a frozen server's socket
  // buffer past the deadline therefore expires the moment it lands (Redis deletes a key
  // SET with a PXAT in the past) instead of overwriting anything with stale bytes; if the
  // server stops between the two commands, the key just expires: a miss.
  const { now, commandTimeoutMs, prefix } = state.config;
  const deadline = Math.floor(now() + shard.offsetMs + 2 * commandTimeoutMs);
  const redisKey = prefix + key;
  // Both commands leave in one write: the socket is corked until the next tick (cheaper
  // than an ioredis pipeline, which measured ~30% more CPU per write here).
  corkUntilNextTick(shard, client);
  const written = client.set(redisKey, value, "PXAT", deadline);
  const made = ttl === undefined ? client.persist(redisKey) : client.pexpire(redisKey, ttl);
  return state.deadlines.track(shard, Promise.all([written, made]));
}

async function set(
  state: RingState,
  key: string,
  value: Buffer,
  options: CacheSetOptions | undefined,
): Promise<void> {
  checkSet(key, value, options);
  const { name, maxItemBytes, defaultTtlMs } = state.config;
  const skipped = (reason: "too-large" | "queue-full") => {
    if (state.events.enabled())
      state.events.emit({ type: "skip", cache: name, key, bytes: value.length, reason });
  };
  if (value.length > maxItemBytes) return skipped("too-large");
  const shard = state.byIndex[state.hashRing.indexFor(key)];
  if (shard === undefined || shard.state === "down" || state.closed) return;
  const ttl = options?.ttlMs ?? defaultTtlMs;
  const write = state.writes.schedule(async () => {
    const client = await usableClient(state, shard);
    if (client === undefined || behindDeadline(state, shard)) return;
    try {
      await writeValue(state, shard, client, key, value, ttl);
      shard.consecutiveFailures = 0;
      if (state.events.enabled())
        state.events.emit({
          type: "set",
          cache: name,
          key,
          bytes: value.length,
          shard: shard.name,
        });
    } catch (error) {
      recordCommandFailure(state, shard, client, "set", error);
    }
  });
  const written = write === undefined ? false : await write;
  if (!written) skipped("queue-full");
}

async function deleteEverywhere(state: RingState, key: string): Promise<void> {
  checkKey(key);
  // Every shard, not just the owner: after a ring change or with processes on different
  // shard lists, a copy can live elsewhere, and quarantine must remove them all.
  await Promise.all(
    state.shards.map(async (shard) =>
      deleteOnShard(state, shard, await usableClient(state, shard), key),
    ),
  );
  if (state.events.enabled()) state.events.emit({ type: "delete", cache: state.config.name, key });
}

async function clearShard(state: RingState, shard: Shard): Promise<void> {
  const client = await usableClient(state, shard);
  if (client === undefined) {
    shard.purgeOnRejoin = true;
    shard.missedDeletes.clear();
    return;
  }
  await clearNamespace(state, client).catch((error: unknown) => {
    shard.purgeOnRejoin = true;
    recordCommandFailure(state, shard, client, "clear", error);
  });
}

function setShards(state: RingState, specs: readonly RedisShard[]): void {
  if (state.closed) return;
  const next = createShards(specs, "setShards shards");
  const hashRing = new HashRing(next.map((s) => s.name));
  const kept = next.map((fresh) => {
    const current = state.shards.find((s) => s.name === fresh.name && s.target === fresh.target);
    if (current) return current;
    // A shard (re-)added at runtime may hold entries from before it left the ring, which
    // deletes made meanwhile never reached: its namespace is purged before it serves.
    fresh.purgeOnRejoin = true;
    return fresh;
  });
  const removed = state.shards.filter((s) => !kept.includes(s));
  state.shards = kept;
  state.hashRing = hashRing;
  state.byIndex = indexShards(hashRing, kept);
  for (const shard of removed) closeShard(shard);
}

async function close(state: RingState): Promise<void> {
  if (state.closed) return;
  state.closed = true;
  state.writes.dropWaiting();
  const grace = new Promise((resolve) =>
    setTimeout(resolve, state.config.commandTimeoutMs * 2).unref(),
  );
  await Promise.race([state.writes.flush(), grace]);
  await Promise.all(state.shards.map((shard) => shard.opening ?? Promise.resolve()));
  for (const shard of state.shards) closeShard(shard);
}

function createRingState(options: RedisRingCacheOptions): RingState {
  const config = resolveRingOptions(options);
  const shardList: unknown = options.shards;
  if (!Array.isArray(shardList) || shardList.length === 0) {
    throw new ConfigError(
      'Expected at least one entry in redisRingCache shards, e.g. ["redis://127.0.0.1:6379"]',
      { option: "shards" },
    );
  }
  const shards = createShards(options.shards, "redisRingCache shards");
  const hashRing = new HashRing(shards.map((shard) => shard.name));
  const state: RingState = {
    config,
    events: createEmitter(options.metrics),
    deadlines: new Deadlines(config.now, config.commandTimeoutMs),
    writes: new WriteQueue({
      now: config.now,
      maxWaitMs: config.commandTimeoutMs,
      maxConcurrent: config.maxConcurrentWrites,
      maxQueued: config.maxQueuedWrites,
    }),
    closed: false,
    probe: async (shard) => void (await connectShard(state, shard)),
    shards,
    hashRing,
    byIndex: indexShards(hashRing, shards),
  };
  return state;
}

/**
 * A cache sharded over Redis servers by consistent hashing ({@link HashRing}): each key
 * lives on exactly one shard, so adding capacity adds memory (not copies).
 *
 * Failure behaviour: every command has a deadline (`commandTimeoutMs`); a shard that fails
 * `failureThreshold` times in a row, or whose connection closes, is taken out (breaker
 * open): its keys are **misses** (not re-routed to the next shard) until a background
 * probe (on the `probeStrategy` schedule) finds it healthy and re-adds it. Nothing is
 * queued while disconnected and nothing is replayed after a reconnect; a write that
 * reaches a server after its deadline is refused by the server. `delete` goes to every
 * shard, and a shard that missed a delete gets it (or a purge of the namespace) before it
 * serves again.
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
  const state = createRingState(options);
  const getValue = (key: string) => get(state, key);
  const setValue = (key: string, value: Buffer, setOptions?: CacheSetOptions) =>
    set(state, key, value, setOptions);
  return {
    shared: true,
    get ring() {
      return state.hashRing;
    },
    get: getValue,
    set: setValue,
    delete: (key) => deleteEverywhere(state, key),
    getOrLoad: singleFlight(getValue, setValue),
    async connect() {
      await Promise.all(
        state.shards.map((shard) =>
          shard.state === "idle" ? openShard(state, shard) : (shard.opening ?? Promise.resolve()),
        ),
      );
    },
    setShards: async (specs) => setShards(state, specs),
    status: () => state.shards.map(shardStatus),
    async clear() {
      await Promise.all(state.shards.map((shard) => clearShard(state, shard)));
    },
    flush: () => state.writes.flush(),
    close: () => close(state),
  };
}
