// Observability for every cache in this module: one diagnostics_channel plus an optional
// per-cache hook, both fed the same small event objects. Nothing is built when nobody listens.
import diagnostics_channel from "node:diagnostics_channel";

/**
 * What a cache reports. `cache` is the name given in the cache's options (e.g. `"l1"`,
 * `"ring"`); `shard` is a shard name with any password removed.
 */
export type CacheEvent =
  | { type: "hit"; cache: string; key: string; bytes: number; shard?: string }
  | { type: "miss"; cache: string; key: string; shard?: string }
  | { type: "set"; cache: string; key: string; bytes: number; shard?: string }
  | { type: "skip"; cache: string; key: string; bytes: number; reason: "too-large" | "queue-full" }
  | { type: "delete"; cache: string; key: string }
  | { type: "error"; cache: string; op: string; error: Error; shard?: string }
  | { type: "shard-down"; cache: string; shard: string; reason: string }
  | { type: "shard-up"; cache: string; shard: string; purged: "none" | "keys" | "namespace" }
  | { type: "invalidate"; cache: string; keys: readonly string[]; origin: "local" | "remote" }
  | { type: "reset"; cache: string; reason: string };

/** A hook that receives every {@link CacheEvent} of one cache (e.g. to feed Prometheus counters). */
export type CacheMetricsHook = (event: CacheEvent) => void;

/**
 * The `node:diagnostics_channel` name every cache of this module publishes its
 * {@link CacheEvent}s on.
 *
 * @example
 * ```ts
 * import diagnostics_channel from "node:diagnostics_channel";
 * import { CACHE_CHANNEL, type CacheEvent } from "matrix-media-kit/cache";
 *
 * diagnostics_channel.subscribe(CACHE_CHANNEL, (message) => {
 *   const event = message as CacheEvent;
 *   if (event.type === "shard-down") console.warn(`cache shard ${event.shard} down: ${event.reason}`);
 * });
 * ```
 */
export const CACHE_CHANNEL = "matrix-media-kit:cache";

const channel = diagnostics_channel.channel(CACHE_CHANNEL);

/** @internal A publisher bound to one cache's hook; `enabled` lets hot paths skip building events. */
export interface Emitter {
  readonly enabled: () => boolean;
  emit(event: CacheEvent): void;
}

/** @internal */
export function createEmitter(hook: CacheMetricsHook | undefined): Emitter {
  return {
    enabled: () => hook !== undefined || channel.hasSubscribers,
    emit(event) {
      if (channel.hasSubscribers) channel.publish(event);
      if (hook !== undefined) {
        try {
          hook(event);
        } catch {
          // A broken metrics hook must not break the cache.
        }
      }
    },
  };
}

/** @internal Coerces anything thrown into an Error for events. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
