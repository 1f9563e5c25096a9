import { randomBytes } from "node:crypto";
import os from "node:os";
import type { Cluster, Redis } from "ioredis";
import { ConfigError, MediaError } from "../errors.js";
import { MAX_MACHINE_ID, parseMachineId } from "./machine-id.js";

/** Defaults of {@link LeaseOptions}. */
export const DEFAULT_LEASE_OPTIONS = {
  /** @defaultValue 15000 */
  ttlMs: 15_000,
  /** @defaultValue "mmk:v1:machine-id" */
  namespace: "mmk:v1:machine-id",
} as const;

/** Options of {@link leaseMachineId}. */
export interface LeaseOptions {
  /** The ID to claim; omitted: any free one. */
  machineId?: number;
  /** How long the key lives without renewal; renewed every `ttlMs / 3`. @defaultValue 15000 */
  ttlMs?: number;
  /** Key prefix, so several deployments can share a Redis. @defaultValue "mmk:v1:machine-id" */
  namespace?: string;
  /** Called once when the lease is lost, with the reason. */
  onLost?: (reason: MediaError) => void;
}

/** A claimed machine ID. */
export interface MachineIdLease {
  readonly machineId: number;
  /** Aborts when the lease is lost: its key was deleted or taken, or renewal failed for a whole TTL. */
  readonly signal: AbortSignal;
  /** Stops renewing and deletes the key (only if still ours). */
  release(): Promise<void>;
}

// Renew or delete only when the key still holds our token.
const RENEW = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

function holderOf(value: string | null): string {
  if (!value) return "unknown holder";
  const [host, pid] = value.split(" ");
  return `host ${host ?? "?"}, pid ${pid ?? "?"}`;
}

/**
 * Claims a machine ID in Redis (`SET NX PX`, renewed every `ttlMs / 3`) so two live
 * processes can never use the same one. Bind a {@link Snowflake} to `lease.signal` so it
 * stops issuing IDs the moment the lease is lost.
 *
 * @throws {@link MediaError} when the asked ID is held by another live process, or no ID is free.
 * @example
 * ```ts
 * const lease = await leaseMachineId(new Redis(process.env.REDIS_URL), {
 *   machineId: process.env.MACHINE_ID === undefined ? undefined : parseMachineId(process.env.MACHINE_ID),
 * });
 * const ids = new Snowflake({ machineId: lease.machineId, signal: lease.signal });
 * process.on("SIGTERM", () => void lease.release());
 * ```
 */
export async function leaseMachineId(
  redis: Redis | Cluster,
  options: LeaseOptions = {},
): Promise<MachineIdLease> {
  const ttlMs = options.ttlMs ?? DEFAULT_LEASE_OPTIONS.ttlMs;
  if (!Number.isInteger(ttlMs) || ttlMs < 30) {
    throw new ConfigError(`Expected an integer >= 30 for ttlMs but received ${String(ttlMs)}`);
  }
  const namespace = options.namespace ?? DEFAULT_LEASE_OPTIONS.namespace;
  const token = `${os.hostname()} ${process.pid} ${randomBytes(12).toString("hex")}`;
  const keyOf = (id: number) => `${namespace}:${id}`;

  let machineId: number;
  if (options.machineId !== undefined) {
    machineId = parseMachineId(options.machineId);
    const ok = await redis.set(keyOf(machineId), token, "PX", ttlMs, "NX");
    if (ok !== "OK") {
      const holder = await redis.get(keyOf(machineId)).catch(() => null);
      throw new MediaError(
        "M_UNKNOWN",
        `MACHINE_ID ${machineId} is already leased by another live process (${holderOf(holder)}); ` +
          `give this process another MACHINE_ID, or omit it to lease a free one. ` +
          `A crashed holder's lease expires after ttlMs (${ttlMs} ms).`,
        { status: 503 },
      );
    }
  } else {
    const ids = Array.from({ length: MAX_MACHINE_ID + 1 }, (_, i) => i);
    // Start at a random place so processes starting together rarely race for the same ID.
    const start = randomBytes(2).readUInt16BE(0) % ids.length;
    const order = [...ids.slice(start), ...ids.slice(0, start)];
    const values = await redis.mget(order.map(keyOf));
    let claimed: number | undefined;
    for (let i = 0; i < order.length && claimed === undefined; i++) {
      if (values[i] !== null) continue;
      if ((await redis.set(keyOf(order[i]!), token, "PX", ttlMs, "NX")) === "OK")
        claimed = order[i];
    }
    if (claimed === undefined) {
      throw new MediaError(
        "M_UNKNOWN",
        `No free machine ID: all ${MAX_MACHINE_ID + 1} IDs in namespace "${namespace}" are leased`,
        { status: 503 },
      );
    }
    machineId = claimed;
  }

  const key = keyOf(machineId);
  const controller = new AbortController();
  let lastRenewed = Date.now();
  let inFlight = false;
  let released = false;

  const lose = (why: string) => {
    if (controller.signal.aborted) return;
    clearInterval(timer);
    const reason = new MediaError("M_UNKNOWN", `Lease of MACHINE_ID ${machineId} lost: ${why}`, {
      status: 503,
    });
    controller.abort(reason);
    options.onLost?.(reason);
  };

  const renew = async () => {
    if (released || controller.signal.aborted) return;
    if (Date.now() - lastRenewed >= ttlMs) {
      lose(`no successful renewal for ${ttlMs} ms (ttlMs); another process may now hold it`);
      return;
    }
    if (inFlight) return;
    inFlight = true;
    try {
      const result = await redis.eval(RENEW, 1, key, token, ttlMs);
      if (released) return;
      if (result === 1) lastRenewed = Date.now();
      else lose("its key was deleted or taken over by another process");
    } catch {
      // Redis unreachable: keep trying until the TTL has passed without a renewal.
    } finally {
      inFlight = false;
    }
  };
  const timer = setInterval(() => void renew(), Math.max(10, Math.floor(ttlMs / 3)));
  timer.unref();

  return {
    machineId,
    signal: controller.signal,
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      if (!controller.signal.aborted) {
        controller.abort(
          new MediaError("M_UNKNOWN", `Lease of MACHINE_ID ${machineId} released`, { status: 503 }),
        );
      }
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    },
  };
}
