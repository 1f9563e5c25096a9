// Racing work that may ignore an AbortSignal against it, so a deadline holds even when the
// work never settles.

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts. @internal */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: Error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The chunks of `source`, each wait raced against `signal` (a stalled stream fails at the
 * abort, not never). Errors of the source itself go through `wrap`; on any early stop the
 * source's `return()` is called without waiting for it. @internal
 */
export async function* abortableChunks<T>(
  source: AsyncIterable<T>,
  signal: AbortSignal,
  wrap: (error: unknown) => unknown = (error) => error,
): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      let step: IteratorResult<T>;
      try {
        step = await abortable(iterator.next(), signal);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw wrap(error);
      }
      if (step.done) {
        done = true;
        return;
      }
      yield step.value;
    }
  } finally {
    if (!done) void iterator.return?.()?.catch?.(() => undefined);
  }
}
