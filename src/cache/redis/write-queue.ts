// Bounded write concurrency for the whole ring; excess writes are dropped (it is a cache).
// A queued write that waited longer than the command timeout is dropped too, so `set`
// never waits for much more than two command timeouts however busy the queue is.

interface Waiting {
  readonly at: number;
  readonly go: (run: boolean) => void;
}

/** @internal */
export interface WriteQueueOptions {
  readonly now: () => number;
  /** How long a write may wait for a slot. */
  readonly maxWaitMs: number;
  readonly maxConcurrent: number;
  readonly maxQueued: number;
}

/** @internal */
export class WriteQueue {
  readonly #options: WriteQueueOptions;
  #active = 0;
  readonly #waiting: Waiting[] = [];
  readonly #idle: Array<() => void> = [];

  constructor(options: WriteQueueOptions) {
    this.#options = options;
  }

  /**
   * Runs `task` now or once a slot frees; resolves true when it ran, false when it waited
   * too long (or the queue was closed). Returns undefined, running nothing, when the queue is full.
   */
  schedule(task: () => Promise<void>): Promise<boolean> | undefined {
    const run = () => {
      this.#active++;
      return task().finally(this.#settle);
    };
    if (this.#active < this.#options.maxConcurrent) return run().then(() => true);
    if (this.#waiting.length >= this.#options.maxQueued) return undefined;
    return new Promise<boolean>((resolve) =>
      this.#waiting.push({
        at: this.#options.now(),
        go: (go) => {
          if (go) void run().then(() => resolve(true));
          else resolve(false);
        },
      }),
    );
  }

  /** Resolves once no write runs or waits. */
  flush(): Promise<void> {
    return this.#active === 0 && this.#waiting.length === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Drops every waiting write (each resolves false); running ones finish. */
  dropWaiting(): void {
    for (const entry of this.#waiting.splice(0)) entry.go(false);
  }

  readonly #settle = () => {
    this.#active--;
    const t = this.#options.now();
    for (let next = this.#waiting.shift(); next !== undefined; next = this.#waiting.shift()) {
      if (t - next.at <= this.#options.maxWaitMs) {
        next.go(true);
        return;
      }
      next.go(false);
    }
    if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
  };
}
