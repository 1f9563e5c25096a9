// One in-flight promise per key: concurrent callers of the same key share one run.
// Every coalescing map in the kit (cache getOrLoad, thumbnails, previews, datastore fills) is this.

/** @internal */
export interface SingleFlight<V> {
  /** Runs `task` unless a run for `key` is in flight, in which case its promise is shared. */
  run(key: string, task: () => Promise<V>): Promise<V>;
  /** The promise in flight for `key`, if any. */
  get(key: string): Promise<V> | undefined;
  /** How many keys have a run in flight. */
  readonly size: number;
}

/** @internal */
export function createSingleFlight<V>(): SingleFlight<V> {
  const inFlight = new Map<string, Promise<V>>();
  return {
    run(key, task) {
      const pending = inFlight.get(key);
      if (pending !== undefined) return pending;
      // Started synchronously (as callers' own maps did), a synchronous throw becomes a rejection.
      const promise = (async () => task())();
      inFlight.set(key, promise);
      const clear = () => {
        if (inFlight.get(key) === promise) inFlight.delete(key);
      };
      promise.then(clear, clear);
      return promise;
    },
    get: (key) => inFlight.get(key),
    get size() {
      return inFlight.size;
    },
  };
}
