// Deletes that survive a shard's absence: a delete that cannot reach a shard (down,
// connecting, or a single timeout) is remembered for it and replayed before the shard
// serves again; past `maxPendingDeletes` the shard's whole namespace is purged instead.
import type { Cluster, Redis } from "ioredis";
import { withTimeout } from "../redis-client.js";
import { recordCommandFailure } from "./breaker.js";
import type { RingContext } from "./context.js";
import { isCluster, type Client, type Shard } from "./shard.js";

/** @internal What a rejoining shard needed: nothing, the missed keys, or a purge. */
export type Replayed = "none" | "keys" | "namespace";

/** @internal */
export function rememberMissedDelete(ring: RingContext, shard: Shard, key: string): void {
  if (shard.purgeOnRejoin) return;
  shard.missedDeletes.add(key);
  if (shard.missedDeletes.size > ring.config.maxPendingDeletes) {
    shard.missedDeletes.clear();
    shard.purgeOnRejoin = true;
  }
}

/** @internal Every key of the ring's namespace on one shard's server (SCAN + UNLINK). */
export async function clearNamespace(ring: RingContext, client: Client): Promise<void> {
  const { prefix, commandTimeoutMs } = ring.config;
  const deadline = Math.max(commandTimeoutMs, 1000);
  // A Cluster's keys live on its masters: scan each of them.
  const nodes = isCluster(client) ? (client as Cluster).nodes("master") : [client as Redis];
  for (const redis of nodes) {
    let cursor = "0";
    do {
      const scan = redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      const [next, keys] = await withTimeout(scan, deadline, "SCAN");
      cursor = next;
      // One UNLINK per key: in a Cluster, keys of one batch may belong to different slots.
      if (keys.length > 0) {
        await withTimeout(Promise.all(keys.map((key) => redis.unlink(key))), deadline, "UNLINK");
      }
    } while (cursor !== "0");
  }
}

/** @internal Makes a (re)joining shard safe to read: the deletes it missed are applied first. */
export async function replayMissedDeletes(
  ring: RingContext,
  shard: Shard,
  client: Client,
): Promise<Replayed> {
  if (shard.purgeOnRejoin) {
    await clearNamespace(ring, client);
    shard.purgeOnRejoin = false;
    shard.missedDeletes.clear();
    return "namespace";
  }
  if (shard.missedDeletes.size === 0) return "none";
  const { prefix, commandTimeoutMs } = ring.config;
  // Deletes keep arriving while this runs (the shard is still down for them): loop until
  // none is left.
  while (shard.missedDeletes.size > 0) {
    const batch = [...shard.missedDeletes].slice(0, 500);
    // One UNLINK per key (a Cluster refuses multi-key commands across slots).
    const unlinks = Promise.all(batch.map((key) => client.unlink(prefix + key)));
    await withTimeout(unlinks, commandTimeoutMs, "UNLINK");
    for (const key of batch) shard.missedDeletes.delete(key);
  }
  return "keys";
}

/** @internal Re-sends, after `probeIntervalMs`, deletes that failed on a shard that stayed up. */
export function scheduleDeleteReplay(ring: RingContext, shard: Shard): void {
  if (shard.replayTimer !== undefined || ring.closed) return;
  shard.replayTimer = setTimeout(() => {
    shard.replayTimer = undefined;
    const client = shard.client;
    if (shard.state !== "up" || client === undefined) return;
    replayMissedDeletes(ring, shard, client).catch((error: unknown) => {
      recordCommandFailure(ring, shard, client, "delete", error);
      scheduleDeleteReplay(ring, shard);
    });
  }, ring.config.probeIntervalMs);
  shard.replayTimer.unref();
}

/** @internal Deletes `key` on one shard now, or remembers it for the shard's return. */
export async function deleteOnShard(
  ring: RingContext,
  shard: Shard,
  client: Client | undefined,
  key: string,
): Promise<void> {
  if (client === undefined) {
    rememberMissedDelete(ring, shard, key);
    // The shard may have come up meanwhile (a slow first connect): do not wait for a
    // next outage to apply it.
    if (shard.state === "up") scheduleDeleteReplay(ring, shard);
    return;
  }
  try {
    await ring.deadlines.track(shard, client.unlink(ring.config.prefix + key));
    shard.consecutiveFailures = 0;
  } catch (error) {
    rememberMissedDelete(ring, shard, key);
    recordCommandFailure(ring, shard, client, "delete", error);
    if (shard.state === "up") scheduleDeleteReplay(ring, shard);
  }
}
