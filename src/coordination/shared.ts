// The part of every shared coordinator that is not about its backend: in-process exclusivity,
// failing open to a local lock while the backend is unreachable, deadlines on every backend
// call, and local waiters that wake-ups from the backend only shorten.
import { randomBytes } from "node:crypto";
import os from "node:os";
import { withTimeout } from "../cache/redis-client.js";
import type { CoordinationBackend } from "./backend.js";
import { decodeEnvelope, encodeEnvelope } from "./envelope.js";
import { holdLock, type HeldLock, type LockContext } from "./lock.js";
import { memoryCoordinator } from "./memory.js";
import type { CheckedSharedOptions } from "./options.js";
import type { CoordinationLock, Coordinator } from "./types.js";
import { checkName, checkTtl, createWaiters } from "./waiters.js";

/** A coordinator on a shared backend. */
export interface SharedCoordinator extends Coordinator {
  /**
   * Connects and starts listening for wake-ups now rather than on first use, so a
   * `notify` from another process right after start-up is not missed. Waits at most a few
   * command timeouts; never rejects (an unreachable backend is retried in the background).
   */
  connect(): Promise<void>;
}

/** @internal */
export function sharedCoordinator(
  kind: string,
  backend: CoordinationBackend,
  options: CheckedSharedOptions,
): SharedCoordinator {
  const { logger, commandTimeoutMs } = options;
  // In-process exclusivity first (no round trip for a name this process holds), and the
  // lock handed out when the backend cannot be reached.
  const local = memoryCoordinator({ kind: `${kind}-local` });
  const waiters = createWaiters();
  const held = new Set<HeldLock>();
  const tokenPrefix = `${os.hostname()} ${process.pid} `;
  let listening: Promise<void> | undefined;
  let closed = false;

  const ctx = lockContext(kind, backend, options, () => closed);

  let prepared: Promise<void> | undefined;
  const prepare = (): Promise<void> =>
    (prepared ??= backend.prepare().catch((error: unknown) => {
      prepared = undefined;
      throw error;
    }));

  const listen = (): Promise<void> =>
    (listening ??= backend
      .listen(
        (payload) => {
          const envelope = decodeEnvelope(payload, logger);
          if (envelope !== undefined) waiters.wake(envelope.topic);
        },
        // Wake-ups sent while disconnected are lost: let every waiter look again.
        () => waiters.wakeAll(),
      )
      .catch((error: unknown) => {
        listening = undefined;
        ctx.failing("listen", error);
      }));

  const failOpen = (name: string, token: string, error: unknown, lock: CoordinationLock) => {
    ctx.failing("take", error);
    // The take may still land (a frozen backend reads it later): undo it when it does.
    backend.release(name, token).catch(() => undefined);
    return lock;
  };

  return {
    kind,
    async tryLock(name, ttlMs) {
      checkName(name, "name");
      checkTtl(ttlMs);
      if (closed) throw new Error(`${kind} coordinator is closed`);
      void listen();
      const mine = await local.tryLock(name, ttlMs);
      if (mine === undefined) return undefined;
      const token = tokenPrefix + randomBytes(12).toString("hex");
      let taken: { generation: number | undefined; sentAt: number };
      try {
        await prepare();
        const sentAt = options.now();
        taken = { generation: await ctx.timed("take", backend.take(name, token, ttlMs)), sentAt };
      } catch (error) {
        return failOpen(name, token, error, mine);
      }
      ctx.recovered();
      const { generation, sentAt } = taken;
      if (generation === undefined) {
        await mine.release();
        return undefined;
      }
      const lock: HeldLock = holdLock(ctx, {
        name,
        token,
        generation,
        ttlMs,
        sentAt,
        local: mine,
        onDone: () => held.delete(lock),
      });
      held.add(lock);
      return lock;
    },
    wait(topic, timeoutMs, signal) {
      void listen();
      return waiters.wait(topic, timeoutMs, signal);
    },
    async notify(topic) {
      checkName(topic, "topic");
      waiters.wake(topic);
      if (closed) return;
      try {
        await ctx.timed("notify", backend.publish(topic, encodeEnvelope(topic)));
        ctx.recovered();
      } catch (error) {
        ctx.failing("notify", error);
      }
    },
    async connect() {
      await withTimeout(listen(), commandTimeoutMs * 8, `${kind} connect`).catch((error: unknown) =>
        ctx.failing("connect", error),
      );
    },
    async close() {
      if (closed) return;
      await Promise.all([...held].map((lock) => lock.release()));
      closed = true;
      waiters.wakeAll();
      await local.close();
      if (listening !== undefined)
        await withTimeout(listening, commandTimeoutMs * 8, `${kind} close`).catch(() => undefined);
      await backend.close().catch((error: unknown) => logger?.debug?.("close failed", { error }));
    },
  };
}

/** The deadlines and the outage state shared by a coordinator and its locks. */
function lockContext(
  kind: string,
  backend: CoordinationBackend,
  options: CheckedSharedOptions,
  isClosed: () => boolean,
): LockContext {
  const { logger, commandTimeoutMs } = options;
  let outage = false;
  return {
    kind,
    backend,
    options,
    timed: (what, promise) => withTimeout(promise, commandTimeoutMs, `${kind} ${what}`),
    failing(op, error) {
      if (outage || isClosed()) return;
      outage = true;
      logger?.warn(
        `${kind} coordinator unreachable: locks fall back to this process and wake-ups ` +
          `to their deadlines until it is back`,
        { op, error },
      );
    },
    recovered() {
      if (!outage) return;
      outage = false;
      logger?.info?.(`${kind} coordinator reachable again`);
    },
  };
}
