// A breaker per shard. It opens when `failureThreshold` commands fail in a row, when the
// connection closes, or when a shard behind its deadline stops replying at all; while it is
// open the shard's keys are misses and probes (on the `probeStrategy` schedule) try to
// reconnect it in the background.
import { toError } from "../events.js";
import { CacheTimeoutError, redact } from "../redis-client.js";
import type { RingContext } from "./context.js";
import { disconnect, type Client, type Shard } from "./shard.js";

/** @internal Publishes an `error` event (nothing else: not every error is the shard's fault). */
export function reportError(ring: RingContext, op: string, error: unknown, shard?: Shard): void {
  if (!ring.events.enabled()) return;
  ring.events.emit({
    type: "error",
    cache: ring.config.name,
    op,
    error: toError(error),
    ...(shard ? { shard: shard.name } : {}),
  });
}

/** @internal Opens the shard's breaker: its connection is dropped and probes start. */
export function markDown(ring: RingContext, shard: Shard, reason: string): void {
  if (shard.state === "closed") return;
  if (shard.state !== "down") {
    shard.state = "down";
    shard.failedProbes = 0;
    if (ring.events.enabled()) {
      const event = { cache: ring.config.name, shard: shard.name, reason: redact(reason) };
      ring.events.emit({ type: "shard-down", ...event });
    }
  }
  shard.consecutiveFailures = 0;
  // Drops whatever is still in flight on the old connection; a new one is opened by a probe.
  disconnect(shard);
  if (!shard.probing) scheduleProbe(ring, shard);
}

/** @internal Arms the next probe of a down shard, after the delay the policy gives. */
export function scheduleProbe(ring: RingContext, shard: Shard): void {
  if (shard.probeTimer !== undefined || shard.state !== "down" || ring.closed) return;
  const { probeStrategy, probeIntervalMs } = ring.config;
  let delay: number;
  try {
    delay = probeStrategy(shard.failedProbes + 1, probeIntervalMs);
  } catch (error) {
    reportError(ring, "probeStrategy", error, shard);
    delay = probeIntervalMs;
  }
  if (!Number.isFinite(delay) || delay < 0) {
    reportError(ring, "probeStrategy", new RangeError(`probeStrategy returned ${delay}`), shard);
    delay = probeIntervalMs;
  }
  shard.probeTimer = setTimeout(() => {
    shard.probeTimer = undefined;
    void runProbe(ring, shard);
  }, delay);
  shard.probeTimer.unref();
}

async function runProbe(ring: RingContext, shard: Shard): Promise<void> {
  if (shard.probing || shard.state !== "down" || ring.closed) return;
  shard.probing = true;
  try {
    await ring.probe(shard);
  } finally {
    shard.probing = false;
  }
  if (shard.state === "down") {
    shard.failedProbes++;
    scheduleProbe(ring, shard);
  }
}

/** @internal The shard answered on a fresh connection: the breaker closes. */
export function closeBreaker(ring: RingContext, shard: Shard): void {
  shard.consecutiveFailures = 0;
  shard.failedProbes = 0;
  shard.lateCommands = 0;
  shard.lastReplyAt = ring.config.now();
  clearTimeout(shard.probeTimer);
  shard.probeTimer = undefined;
}

const isReplyError = (error: unknown) => error instanceof Error && error.name === "ReplyError";

/** @internal Counts a failed command towards the shard's breaker. */
export function recordCommandFailure(
  ring: RingContext,
  shard: Shard,
  client: Client,
  op: string,
  error: unknown,
): void {
  reportError(ring, op, error, shard);
  const { now, commandTimeoutMs, failureThreshold } = ring.config;
  // The server answered: it is alive (e.g. OOM under maxmemory); not a breaker matter.
  if (isReplyError(error)) {
    shard.lastReplyAt = now();
    return;
  }
  if (shard.client !== client || shard.state !== "up") return;
  // A timeout while other replies keep arriving is an overloaded shard, not a dead one:
  // that command is a miss, but the breaker stays closed.
  if (error instanceof CacheTimeoutError && now() - shard.lastReplyAt < commandTimeoutMs) return;
  if (++shard.consecutiveFailures >= failureThreshold) {
    const last = toError(error).message;
    markDown(ring, shard, `${failureThreshold} consecutive failures, last: ${last}`);
  }
}

/**
 * @internal
 * True when the shard is behind its deadline (see `lateCommands`): the command is dropped,
 * not sent. A shard with a late command and no reply at all for a whole timeout is not slow
 * but stuck (frozen, partitioned): its breaker opens.
 */
export function behindDeadline(ring: RingContext, shard: Shard): boolean {
  if (shard.lateCommands === 0) return false;
  const { now, commandTimeoutMs } = ring.config;
  if (now() - shard.lastReplyAt >= commandTimeoutMs && shard.state === "up") {
    markDown(ring, shard, `no reply for ${commandTimeoutMs} ms`);
  }
  return true;
}
