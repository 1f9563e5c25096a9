// One shard of the ring: where it points, its client, and the state the breaker, the
// deadlines and the delete replay keep about it. Built from the `shards` option.
import type { Cluster, Redis, RedisOptions } from "ioredis";
import { ConfigError } from "../../errors.js";
import { dispose, parseRedisUrl } from "../redis-client.js";
import type { RedisShard } from "./options.js";

/** @internal */
export type Client = Redis | Cluster;

/** @internal */
export const isCluster = (client: Client): boolean =>
  (client as { isCluster?: boolean }).isCluster === true;

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

/** @internal */
export interface Shard {
  readonly name: string;
  /** Identity of the target: the URL (with credentials) or the injected client. */
  readonly target: string | Client;
  /** True when the ring built the client (and so closes it). */
  readonly owned: boolean;
  /** ioredis options parsed from the URL. */
  readonly options: RedisOptions | undefined;
  client: Client | undefined;
  state: RedisShardStatus["state"];
  /** The connection being opened by a command or `connect()` (not by a probe). */
  opening: Promise<void> | undefined;

  // The breaker (breaker.ts).
  /** Failures in a row of commands on the current connection. */
  consecutiveFailures: number;
  /** True while a probe is connecting. */
  probing: boolean;
  /** The next probe, while the breaker is open. */
  probeTimer: NodeJS.Timeout | undefined;
  /** Probes that failed since the breaker opened. */
  failedProbes: number;
  /** `now()` of the last reply (value or error reply) from the shard. */
  lastReplyAt: number;

  // Deadlines (deadlines.ts).
  /**
   * Commands that timed out and whose reply has not arrived yet. Non-zero means the shard
   * answers later than the deadline: new reads and writes are dropped (a miss, a dropped
   * write) instead of deepening a backlog whose replies would all come too late.
   */
  lateCommands: number;
  /** Bumped for every new connection, so late replies of an old one are not counted. */
  incarnation: number;
  /** Server clock minus `now()`, from the last TIME round trip. */
  offsetMs: number;
  /** True while the shard's socket is corked until the next tick. */
  corked: boolean;

  // Deletes the shard missed (delete-replay.ts).
  /** Keys deleted while the shard could not be reached. */
  missedDeletes: Set<string>;
  /** True when too many deletes were missed: the namespace is purged before the shard serves. */
  purgeOnRejoin: boolean;
  /** The re-send of deletes that failed while the shard stayed up. */
  replayTimer: NodeJS.Timeout | undefined;
}

function shardTarget(
  spec: RedisShard,
  where: string,
): { name: string; target: string | Client; options?: RedisOptions } {
  if (typeof spec === "string" || (typeof spec === "object" && spec?.url !== undefined)) {
    const url = typeof spec === "string" ? spec : spec.url!;
    if (typeof spec === "object" && spec.client !== undefined)
      throw new ConfigError(`${where}: give url or client, not both`, { option: where });
    const parsed = parseRedisUrl(url, where);
    const name = (typeof spec === "object" ? spec.name : undefined) ?? parsed.name;
    return { name, target: url, options: parsed.options };
  }
  if (typeof spec === "object" && spec !== null && spec.client !== undefined) {
    if (typeof spec.name !== "string" || spec.name === "") {
      throw new ConfigError(
        `${where}: a shard given as a client needs a name (its stable place on the ring)`,
        { option: `${where}.name` },
      );
    }
    return { name: spec.name, target: spec.client };
  }
  throw new ConfigError(`${where}: expected a URL string or { url } or { name, client }`, {
    option: where,
  });
}

/** @internal Builds the shards of a shard list; `option` names the list in messages. */
export function createShards(specs: readonly RedisShard[], option: string): Shard[] {
  const input: unknown = specs;
  if (!Array.isArray(input)) throw new ConfigError(`Expected an array for ${option}`, { option });
  return specs.map((spec, i): Shard => {
    const { name, target, options } = shardTarget(spec, `${option}[${i}]`);
    return {
      name,
      target,
      owned: typeof target === "string",
      options,
      client: typeof target === "string" ? undefined : target,
      state: "idle",
      opening: undefined,
      consecutiveFailures: 0,
      probing: false,
      probeTimer: undefined,
      failedProbes: 0,
      lastReplyAt: 0,
      lateCommands: 0,
      incarnation: 0,
      offsetMs: 0,
      corked: false,
      missedDeletes: new Set(),
      purgeOnRejoin: false,
      replayTimer: undefined,
    };
  });
}

/** @internal */
export function shardStatus(shard: Shard): RedisShardStatus {
  return {
    name: shard.name,
    state: shard.state,
    pendingDeletes: shard.missedDeletes.size,
    purgeOnRejoin: shard.purgeOnRejoin,
  };
}

/** @internal Drops the shard's connection if the ring owns it (an injected client stays). */
export function disconnect(shard: Shard): void {
  if (!shard.owned || shard.client === undefined) return;
  dispose(shard.client as Redis);
  shard.client = undefined;
}

/** @internal A removed shard, or the ring closing: timers stop and the connection ends. */
export function closeShard(shard: Shard): void {
  shard.state = "closed";
  clearTimeout(shard.probeTimer);
  clearTimeout(shard.replayTimer);
  shard.probeTimer = shard.replayTimer = undefined;
  disconnect(shard);
  shard.client = undefined;
}

/**
 * @internal
 * Commands issued in the same tick leave in one socket write: the socket is corked until
 * the next tick. This is what auto-pipelining is for, at a fraction of its cost (ioredis'
 * enableAutoPipelining measured slower here), and it matters most with several shards,
 * where each connection gets fewer commands per event-loop turn.
 */
export function corkUntilNextTick(shard: Shard, client: Client): void {
  if (shard.corked || isCluster(client)) return;
  const stream = (client as Redis).stream;
  if (stream === undefined) return;
  shard.corked = true;
  stream.cork();
  process.nextTick(() => {
    shard.corked = false;
    stream.uncork();
  });
}
