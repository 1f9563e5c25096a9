// What a shared coordinator needs from its backend (Redis, PostgreSQL). Every method may
// reject or hang; the shared core puts a deadline on each call and decides what failing means.

/** @internal */
export interface CoordinationBackend {
  /**
   * Loads the driver module (local work, no network): awaited before the first command, not
   * counted against the command deadline, so a cold start does not fail open.
   */
  prepare(): Promise<void>;
  /** Takes `name` for `token` for `ttlMs`: its new generation, or undefined when held by another. */
  take(name: string, token: string, ttlMs: number): Promise<number | undefined>;
  /** Extends `name` by `ttlMs` if `token` still holds it: false when it does not. */
  renew(name: string, token: string, ttlMs: number): Promise<boolean>;
  /** Frees `name` if `token` still holds it. */
  release(name: string, token: string): Promise<void>;
  /** Sends `payload` (an envelope) to every process listening for `topic`. */
  publish(topic: string, payload: string): Promise<void>;
  /**
   * Starts delivering messages to `onMessage`; `onGap` is called whenever messages may have
   * been missed (a reconnect). Resolves once listening (or gives up for now and keeps trying).
   */
  listen(onMessage: (payload: string | Buffer) => void, onGap: () => void): Promise<void>;
  /** Closes what the backend owns. */
  close(): Promise<void>;
}
