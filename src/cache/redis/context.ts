// What the parts of one ring share: its options, events, deadlines and the closed flag.
import type { Emitter } from "../events.js";
import type { Deadlines } from "./deadlines.js";
import type { RingConfig } from "./options.js";
import type { Shard } from "./shard.js";

/** @internal */
export interface RingContext {
  readonly config: RingConfig;
  readonly events: Emitter;
  readonly deadlines: Deadlines;
  /** Set once by `close()`: nothing new is scheduled after it. */
  closed: boolean;
  /** Tries to reconnect a shard whose breaker is open (connect.ts; wired by the ring). */
  readonly probe: (shard: Shard) => Promise<void>;
}
