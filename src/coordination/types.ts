// The contract between the repository and whatever makes processes of one deployment agree:
// a short lock with a fencing token, and wake-ups published when the locked work is done.

/** A held lock. It is renewed in the background until `release()` or until it is lost. */
export interface CoordinationLock {
  /** The lock's name as given to {@link Coordinator.tryLock}. */
  readonly name: string;
  /** Grows every time the lock changes hands (fencing token); compare before destructive work. */
  readonly generation: number;
  /** Aborts when the lock is lost (expired without renewal, taken over, backend gone for a whole TTL). */
  readonly signal: AbortSignal;
  /**
   * `true` when the lock exists only in this process: always for `memoryCoordinator`, and for
   * a shared coordinator that failed open (its backend was unreachable). Another process may
   * then hold the same name, and `generation` fences nothing across processes.
   */
  readonly local?: boolean;
  /** Stops renewing and frees the lock if it is still ours. Never throws. */
  release(): Promise<void>;
}

/**
 * Makes the processes of one deployment agree: who does a piece of work (a lock that
 * expires when its holder dies) and who is told when it is done (a wake-up on a topic).
 *
 * Every method fails open in the sense that matters to a media server: a backend that is
 * down makes `tryLock` return a lock held only in this process (and logs why), and makes
 * `wait` fall back to its deadline, so a request is never blocked longer than asked.
 */
export interface Coordinator {
  /** A name for logs and metrics (`memory`, `redis`, `postgres`). */
  readonly kind: string;
  /**
   * Takes `name` for `ttlMs` (renewed every `ttlMs / 3` while held), or answers `undefined`
   * at once when another live holder has it.
   */
  tryLock(name: string, ttlMs: number): Promise<CoordinationLock | undefined>;
  /**
   * Resolves when `notify(topic)` is called by any process, when `timeoutMs` passes, or when
   * `signal` aborts (then it rejects with the signal's reason). Subscribe before checking the
   * condition you wait for, and check it again after waking: a wake-up is a hint, not data.
   */
  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Wakes every `wait(topic)` in every process. Never throws. */
  notify(topic: string): Promise<void>;
  /** Releases held locks and closes connections the coordinator owns. */
  close(): Promise<void>;
}
