// Per-command deadlines on the hot path, without a timer each: one sweep every
// `timeoutMs / 10` rejects the expired ones (deadlines are in send order, so only the head
// is checked). The sweep runs from setImmediate, after the event loop's poll phase: when
// this process was stalled (GC, CPU starvation), replies that arrived meanwhile are
// delivered before their commands are judged late, so our own stall is not blamed on the shard.
import { toError } from "../events.js";
import { CacheTimeoutError } from "../redis-client.js";
import type { Shard } from "./shard.js";

interface Deadline {
  readonly at: number;
  readonly shard: Shard;
  /** The shard's connection incarnation when the command was sent. */
  readonly incarnation: number;
  /** Timed out and its reply not arrived yet: counted in `shard.lateCommands`. */
  late: boolean;
  /** Cleared once settled: a resolved promise keeps its value, so the entry must not keep it. */
  reject: ((error: Error) => void) | undefined;
}

/** @internal */
export class Deadlines {
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #entries: Deadline[] = [];
  #head = 0;
  #sweeper: NodeJS.Timeout | undefined;
  readonly #sweep = () => void setImmediate(this.#expire);

  constructor(now: () => number, timeoutMs: number) {
    this.#now = now;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Settles like `promise`, or rejects with a CacheTimeoutError once the command timeout
   * has passed; a reply that comes after that marks the shard as no longer late.
   */
  track<T>(shard: Shard, promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Deadline = {
        at: this.#now() + this.#timeoutMs,
        shard,
        incarnation: shard.incarnation,
        late: false,
        reject,
      };
      const arrived = () => {
        if (entry.late && entry.incarnation === shard.incarnation) shard.lateCommands--;
        entry.late = false;
      };
      this.#entries.push(entry);
      if (this.#sweeper === undefined) {
        this.#sweeper = setInterval(this.#sweep, Math.max(5, Math.floor(this.#timeoutMs / 10)));
        this.#sweeper.unref();
      }
      promise.then(
        (value) => {
          shard.lastReplyAt = this.#now();
          arrived();
          if (entry.reject === undefined) return;
          entry.reject = undefined;
          resolve(value);
        },
        (error: unknown) => {
          arrived();
          if (entry.reject === undefined) return;
          entry.reject = undefined;
          reject(toError(error));
        },
      );
    });
  }

  readonly #expire = () => {
    const entries = this.#entries;
    const t = this.#now();
    while (this.#head < entries.length) {
      const entry = entries[this.#head]!;
      const reject = entry.reject;
      if (reject !== undefined) {
        if (entry.at > t) break;
        entry.reject = undefined;
        if (entry.incarnation === entry.shard.incarnation) {
          entry.late = true;
          entry.shard.lateCommands++;
        }
        reject(new CacheTimeoutError(`command timed out after ${this.#timeoutMs} ms`));
      }
      this.#head++;
    }
    if (this.#head === entries.length) {
      entries.length = 0;
      this.#head = 0;
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    } else if (this.#head > 1024) {
      entries.splice(0, this.#head);
      this.#head = 0;
    }
  };
}
