import { randomFillSync } from "node:crypto";
import { Snowflake } from "./snowflake.js";

/** Random bytes in each media ID (128 bits, beyond the 96 needed to make guessing useless). */
const RANDOM_BYTES = 16;
/** Snowflake bytes in each media ID. */
const SNOWFLAKE_BYTES = 8;
/** IDs whose randomness one `randomFillSync` call provides. */
const POOL_IDS = 256;

/** Length of every media ID the generator makes: 24 bytes in unpadded base64url. */
export const MEDIA_ID_LENGTH = 32;

/** Options of {@link createMediaIdGenerator}: a machine ID, or a Snowflake already built. */
export type MediaIdGeneratorOptions =
  | {
      machineId: number;
      snowflake?: never;
      /** Fills a buffer with random bytes. @defaultValue `crypto.randomFillSync` */
      randomFill?: (buffer: Uint8Array) => void;
    }
  | { snowflake: Snowflake; machineId?: never; randomFill?: (buffer: Uint8Array) => void };

/** Makes media IDs. */
export interface MediaIdGenerator {
  /** A new media ID: 32 characters of `[A-Za-z0-9_-]`. */
  next(): string;
  /** The Snowflake that makes IDs unique across machines. */
  readonly snowflake: Snowflake;
}

/**
 * Creates a generator of media IDs that are unique without a database round trip (an
 * 8-byte Snowflake: time | machine ID | sequence) and unguessable (16 random bytes, drawn
 * in batches), encoded as 32 characters of unpadded base64url. Media cannot be enumerated
 * by walking IDs.
 *
 * @example
 * ```ts
 * const ids = createMediaIdGenerator({ machineId: parseMachineId(process.env.MACHINE_ID) });
 * ids.next(); // "AGR9lqv4AAF0nY2Lq1tZc8Hc0iQe5vJx"
 * ```
 */
export function createMediaIdGenerator(options: MediaIdGeneratorOptions): MediaIdGenerator {
  const snowflake = options.snowflake ?? new Snowflake({ machineId: options.machineId });
  const fill = options.randomFill ?? ((b: Uint8Array) => void randomFillSync(b));
  const pool = Buffer.allocUnsafe(RANDOM_BYTES * POOL_IDS);
  let used = POOL_IDS;
  const out = Buffer.allocUnsafe(SNOWFLAKE_BYTES + RANDOM_BYTES);
  return {
    snowflake,
    next(): string {
      if (used === POOL_IDS) {
        fill(pool);
        used = 0;
      }
      snowflake.nextInto(out, 0);
      pool.copy(out, SNOWFLAKE_BYTES, used * RANDOM_BYTES, (used + 1) * RANDOM_BYTES);
      // Each random slice is used once; wipe it so a later dump of the pool reveals nothing.
      pool.fill(0, used * RANDOM_BYTES, (used + 1) * RANDOM_BYTES);
      used++;
      return out.toString("base64url");
    },
  };
}
