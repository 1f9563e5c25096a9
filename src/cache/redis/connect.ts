// Opening a shard's connection: the client (built here for URL shards), the server's clock
// offset, and the replay of missed deletes, all before the shard serves a command.
import type { Redis } from "ioredis";
import { FAIL_FAST, dispose, loadIoredis, withTimeout } from "../redis-client.js";
import { closeBreaker, markDown, reportError } from "./breaker.js";
import type { RingContext } from "./context.js";
import { replayMissedDeletes, type Replayed } from "./delete-replay.js";
import type { Client, RedisShardStatus, Shard } from "./shard.js";

async function createClient(ring: RingContext, shard: Shard): Promise<Redis | undefined> {
  const { Redis: RedisClass } = await loadIoredis();
  if (ring.closed || shard.state === "closed") return undefined;
  const { redisOptions, connectTimeoutMs, name } = ring.config;
  // redisOptions.tls (a private CA, client certificates) applies to rediss:// shards only.
  const tls =
    shard.options?.tls === undefined ? undefined : { ...redisOptions?.tls, ...shard.options.tls };
  const client = new RedisClass({
    ...redisOptions,
    ...shard.options,
    tls,
    ...FAIL_FAST,
    connectTimeout: connectTimeoutMs,
    connectionName: `mmk-${name}`,
  });
  client.on("error", (error: Error) => reportError(ring, "connection", error, shard));
  client.on("close", () => {
    if (shard.client === client && shard.state === "up") markDown(ring, shard, "connection closed");
  });
  return client;
}

/** Server clock minus `now()`, from one TIME round trip (its midpoint). */
async function measureOffset(ring: RingContext, client: Client): Promise<number> {
  const { now, commandTimeoutMs } = ring.config;
  const t0 = now();
  const [seconds, micros] = await withTimeout(client.time(), commandTimeoutMs, "TIME");
  const t1 = now();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (t0 + t1) / 2;
}

/** @internal Opens (or checks) the shard's connection; resolves true when it may serve again. */
export async function connectShard(ring: RingContext, shard: Shard): Promise<boolean> {
  let client = shard.client;
  const { connectTimeoutMs, name } = ring.config;
  try {
    if (shard.owned) {
      client = await createClient(ring, shard);
      if (client === undefined) return false;
      await withTimeout(client.connect(), connectTimeoutMs, `connecting to ${shard.name}`);
    } else if (client !== undefined && (client as Redis).status === "wait") {
      await withTimeout(client.connect(), connectTimeoutMs, `connecting to ${shard.name}`);
    }
    const connected = client!;
    shard.offsetMs = await measureOffset(ring, connected);
    let replayed: Replayed = "none";
    // Re-checked after every await: the shard is marked up in the same turn as the last check.
    while (shard.purgeOnRejoin || shard.missedDeletes.size > 0) {
      const done = await replayMissedDeletes(ring, shard, connected);
      if (replayed !== "namespace") replayed = done;
    }
    if (ring.closed || shard.state === "closed") {
      if (shard.owned) dispose(connected as Redis);
      return false;
    }
    shard.client = connected;
    shard.incarnation++;
    closeBreaker(ring, shard);
    shard.state = "up";
    if (ring.events.enabled()) {
      ring.events.emit({ type: "shard-up", cache: name, shard: shard.name, purged: replayed });
    }
    return true;
  } catch (error) {
    reportError(ring, "connect", error, shard);
    if (shard.owned && client !== undefined && client !== shard.client) dispose(client as Redis);
    return false;
  }
}

/** @internal Connects an idle shard once, however many commands wait for it. */
export function openShard(ring: RingContext, shard: Shard): Promise<void> {
  if (shard.opening !== undefined) return shard.opening;
  shard.state = "connecting";
  const opening = connectShard(ring, shard).then((ok) => {
    shard.opening = undefined;
    if (!ok) markDown(ring, shard, "could not connect");
  });
  shard.opening = opening;
  return opening;
}

/** @internal The client to use now, or undefined (breaker open, or the first connect failed). */
export async function usableClient(ring: RingContext, shard: Shard): Promise<Client | undefined> {
  if (shard.state === "up") return shard.client;
  if (shard.state === "idle" || shard.state === "connecting") {
    const opening = openShard(ring, shard);
    await withTimeout(opening, ring.config.commandTimeoutMs, "connect").catch(() => undefined);
    // (Re-read after the await: openShard() changed it.)
    return (shard.state as RedisShardStatus["state"]) === "up" ? shard.client : undefined;
  }
  return undefined;
}
