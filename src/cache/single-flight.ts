// getOrLoad for every cache here: N concurrent misses of a key share one loader call.
import { createSingleFlight } from "../internal/single-flight.js";
import type { CacheSetOptions } from "./types.js";

/** @internal */
export type Fill = (
  key: string,
  value: Buffer,
  options: CacheSetOptions | undefined,
) => Promise<void>;

/**
 * @internal
 * Builds a `getOrLoad` from `get` and a `fill` (which may return before or after the value
 * is stored; its promise is kept in the in-flight entry so late joiners still coalesce).
 * `canStore()` is read before the loader runs and again after: a cache uses it to refuse
 * filling a key that was invalidated while the loader ran.
 */
export function singleFlight(
  get: (key: string) => Promise<Buffer | undefined>,
  fill: Fill,
  guard?: (key: string) => () => boolean,
): (
  key: string,
  loader: () => Promise<Buffer | undefined>,
  options?: CacheSetOptions,
) => Promise<Buffer | undefined> {
  const flights = createSingleFlight<Buffer | undefined>();
  return (key, loader, options) =>
    flights.run(key, async () => {
      const cached = await get(key);
      if (cached !== undefined) return cached;
      const stillValid = guard?.(key);
      const loaded = await loader();
      if (loaded !== undefined && (stillValid === undefined || stillValid())) {
        // Filling is off the response path: errors are the cache's business, never the caller's.
        fill(key, loaded, options).catch(() => undefined);
      }
      return loaded;
    });
}
