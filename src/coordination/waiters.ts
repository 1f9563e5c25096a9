// The waiters of one process, by topic. Every coordinator keeps its `wait` calls here, so a
// wait is a local timer that a wake-up (local or from the backend) only shortens: it can never
// outlive its deadline, whatever the backend does.

/** @internal */
export interface Waiters {
  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Wakes the waiters of `topic`. */
  wake(topic: string): void;
  /** Wakes every waiter (after a gap in the backend's messages, or on close). */
  wakeAll(): void;
}

/** @internal Checks the arguments every `wait` shares. */
export function checkWait(topic: unknown, timeoutMs: unknown): void {
  checkName(topic, "topic");
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(
      `Expected a finite number >= 0 for timeoutMs but received ${String(timeoutMs)}`,
    );
  }
}

/** @internal Lock names and topics are non-empty strings. */
export function checkName(value: unknown, what: "name" | "topic"): asserts value is string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(
      `Expected a non-empty string lock ${what} but received ${JSON.stringify(value)}`,
    );
  }
}

/** @internal Lock TTLs are integers of at least 30 ms (renewal runs every ttlMs / 3). */
export function checkTtl(ttlMs: unknown): asserts ttlMs is number {
  if (typeof ttlMs !== "number" || !Number.isSafeInteger(ttlMs) || ttlMs < 30) {
    throw new RangeError(`Expected an integer >= 30 for ttlMs but received ${String(ttlMs)}`);
  }
}

/** @internal */
export function createWaiters(): Waiters {
  const byTopic = new Map<string, Set<() => void>>();
  const wakeSet = (set: Set<() => void> | undefined) => {
    for (const wake of [...(set ?? [])]) wake();
  };
  return {
    wait(topic, timeoutMs, signal) {
      checkWait(topic, timeoutMs);
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason as Error);
          return;
        }
        let set = byTopic.get(topic);
        if (set === undefined) byTopic.set(topic, (set = new Set()));
        const entry = set;
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          entry.delete(wake);
          if (entry.size === 0 && byTopic.get(topic) === entry) byTopic.delete(topic);
        };
        const wake = (): void => {
          done();
          resolve();
        };
        const onAbort = (): void => {
          done();
          reject(signal?.reason as Error);
        };
        const timer = setTimeout(wake, timeoutMs);
        signal?.addEventListener("abort", onAbort, { once: true });
        entry.add(wake);
      });
    },
    wake: (topic) => wakeSet(byTopic.get(topic)),
    wakeAll() {
      for (const set of [...byTopic.values()]) wakeSet(set);
    },
  };
}
