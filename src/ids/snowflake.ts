import { ConfigError, MediaError } from "../errors.js";
import { MAX_MACHINE_ID } from "./machine-id.js";

/**
 * The default Snowflake epoch: 2024-01-01T00:00:00.000Z. With 41 bits of milliseconds,
 * IDs stay positive 64-bit integers until 2093.
 */
export const SNOWFLAKE_EPOCH = Date.UTC(2024, 0, 1);

const TIMESTAMP_BITS = 41;
const MACHINE_BITS = 10;
const SEQUENCE_BITS = 12;
const MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1;
const MAX_TIMESTAMP = 2 ** TIMESTAMP_BITS - 1;
const LOW_BITS = 2 ** (MACHINE_BITS + SEQUENCE_BITS);

/** Defaults of {@link SnowflakeOptions}. */
export const DEFAULT_SNOWFLAKE_OPTIONS = {
  /** @defaultValue {@link SNOWFLAKE_EPOCH} */
  epoch: SNOWFLAKE_EPOCH,
  /** @defaultValue 2000 */
  maxWaitMs: 2000,
} as const;

/** Options of {@link Snowflake}. */
export interface SnowflakeOptions {
  /** This process's machine ID, 0–1023. Out of range: `RangeError` (never masked). */
  machineId: number;
  /** Custom epoch in ms since the Unix epoch. @defaultValue {@link SNOWFLAKE_EPOCH} */
  epoch?: number | Date;
  /**
   * Clock in ms since the Unix epoch. The default reads the wall clock once at construction
   * and advances it with `performance.now()`, so a wall-clock step back never moves IDs back.
   */
  now?: () => number;
  /**
   * How long `next()` may spin waiting for the clock when 4,096 IDs were issued within one
   * millisecond or the clock stands behind the last ID. Past it: `MediaError`. @defaultValue 2000
   */
  maxWaitMs?: number;
  /** When aborted (e.g. a lost machine-ID lease), `next()` throws instead of issuing IDs. */
  signal?: AbortSignal;
}

/** The parts of a Snowflake ID. */
export interface DeconstructedSnowflake {
  /** The ID as a bigint. */
  id: bigint;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  machineId: number;
  sequence: number;
}

function monotonicClock(): () => number {
  const anchor = Date.now();
  const start = performance.now();
  return () => Math.floor(anchor + (performance.now() - start));
}

function toEpoch(value: number | Date | undefined): number {
  const epoch = value instanceof Date ? value.getTime() : (value ?? SNOWFLAKE_EPOCH);
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new ConfigError(
      `Expected a non-negative integer of milliseconds for epoch but received ${String(epoch)}`,
    );
  }
  return epoch;
}

function checkMachineId(machineId: number): void {
  if (!Number.isInteger(machineId) || machineId < 0 || machineId > MAX_MACHINE_ID) {
    throw new ConfigError(
      `Expected an integer 0–${MAX_MACHINE_ID} for machineId but received ${String(machineId)}`,
    );
  }
}

/**
 * A generator of 64-bit, time-ordered, unique IDs for one process.
 *
 * ```text
 *  63                    22 21        12 11          0
 * +------------------------+------------+-------------+
 * | 41 bits: ms since epoch| 10 bits:   | 12 bits:    |
 * | (custom epoch, 2024)   | machine ID | sequence    |
 * +------------------------+------------+-------------+
 * ```
 *
 * Up to 4,096 IDs per millisecond per machine ID. The sequence never wraps (the generator
 * waits for the next millisecond), IDs never go backwards (a clock standing behind the last
 * ID keeps using the last millisecond), and a wait longer than `maxWaitMs` throws a
 * `MediaError` rather than risk a duplicate.
 *
 * @example
 * ```ts
 * const ids = new Snowflake({ machineId: parseMachineId(process.env.MACHINE_ID) });
 * const id = ids.nextString(); // "1234567890123456789"
 * Snowflake.deconstruct(id);   // { timestamp, machineId, sequence, id }
 * ```
 */
export class Snowflake {
  readonly machineId: number;
  readonly epoch: number;
  readonly #now: () => number;
  readonly #maxWaitMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #machineBits: number;
  #lastTs = -1;
  #sequence = 0;

  constructor(options: SnowflakeOptions) {
    checkMachineId(options.machineId);
    this.machineId = options.machineId;
    this.epoch = toEpoch(options.epoch);
    const maxWaitMs = options.maxWaitMs ?? DEFAULT_SNOWFLAKE_OPTIONS.maxWaitMs;
    if (!(maxWaitMs >= 0) || !Number.isFinite(maxWaitMs)) {
      throw new ConfigError(
        `Expected a finite number >= 0 for maxWaitMs but received ${String(maxWaitMs)}`,
      );
    }
    this.#maxWaitMs = maxWaitMs;
    this.#now = options.now ?? monotonicClock();
    this.#signal = options.signal;
    this.#machineBits = options.machineId << SEQUENCE_BITS;
  }

  #elapsed(): number {
    const t = this.#now() - this.epoch;
    if (!(t >= 0 && t <= MAX_TIMESTAMP)) {
      throw new MediaError(
        "M_UNKNOWN",
        `The clock (${this.#now()}) is outside the 41-bit range of the Snowflake epoch ${this.epoch}`,
      );
    }
    return Math.floor(t);
  }

  #advance(): void {
    if (this.#signal?.aborted) {
      throw new MediaError(
        "M_UNKNOWN",
        `Snowflake for machine ID ${this.machineId} stopped issuing IDs: its machine-ID lease was lost`,
        { status: 503, cause: this.#signal.reason },
      );
    }
    const t = this.#elapsed();
    if (t > this.#lastTs) {
      this.#lastTs = t;
      this.#sequence = 0;
      return;
    }
    // Same millisecond, or the clock stands behind the last ID: keep counting on the last one.
    if (this.#sequence < MAX_SEQUENCE) {
      this.#sequence++;
      return;
    }
    const deadline = performance.now() + this.#maxWaitMs;
    for (;;) {
      const now = this.#elapsed();
      if (now > this.#lastTs) {
        this.#lastTs = now;
        this.#sequence = 0;
        return;
      }
      if (performance.now() > deadline) {
        throw new MediaError(
          "M_UNKNOWN",
          `Snowflake for machine ID ${this.machineId} waited more than maxWaitMs (${this.#maxWaitMs} ms) ` +
            `for the clock to pass ${this.epoch + this.#lastTs}; refusing to reuse a sequence`,
          { status: 503 },
        );
      }
    }
  }

  /** The next ID as a bigint. */
  next(): bigint {
    this.#advance();
    return (BigInt(this.#lastTs) << 22n) | BigInt(this.#machineBits | this.#sequence);
  }

  /** The next ID as a decimal string, computed without bigint arithmetic. */
  nextString(): string {
    this.#advance();
    return decimal(this.#lastTs, this.#machineBits | this.#sequence);
  }

  /** The next ID as 8 big-endian bytes written into `target` at `offset`. */
  nextInto(target: Uint8Array, offset = 0): void {
    this.#advance();
    const ts = this.#lastTs;
    const low = this.#machineBits | this.#sequence;
    const hi = Math.floor(ts / 1024); // top 31 bits of the timestamp
    const mid = ts % 1024; // low 10 bits of the timestamp
    const upper = hi >>> 0;
    const lower = ((mid << 22) | low) >>> 0;
    target[offset] = upper >>> 24;
    target[offset + 1] = (upper >>> 16) & 0xff;
    target[offset + 2] = (upper >>> 8) & 0xff;
    target[offset + 3] = upper & 0xff;
    target[offset + 4] = lower >>> 24;
    target[offset + 5] = (lower >>> 16) & 0xff;
    target[offset + 6] = (lower >>> 8) & 0xff;
    target[offset + 7] = lower & 0xff;
  }

  /** Splits an ID made with this generator's epoch. */
  deconstruct(id: bigint | string): DeconstructedSnowflake {
    return Snowflake.deconstruct(id, { epoch: this.epoch });
  }

  /**
   * Splits an ID into timestamp, machine ID and sequence.
   *
   * @example
   * ```ts
   * const { timestamp, machineId } = Snowflake.deconstruct("175928847299117063");
   * ```
   */
  static deconstruct(
    id: bigint | string,
    options: { epoch?: number | Date } = {},
  ): DeconstructedSnowflake {
    const epoch = toEpoch(options.epoch);
    let value: bigint;
    if (typeof id === "bigint") value = id;
    else if (/^[0-9]{1,20}$/.test(id)) value = BigInt(id);
    else
      throw new RangeError(
        `Expected a decimal Snowflake ID but received ${JSON.stringify(id.slice(0, 40))}`,
      );
    if (value < 0n || value >= 1n << 63n) {
      throw new RangeError(`Snowflake ID ${value} is outside 0..2^63-1`);
    }
    return {
      id: value,
      timestamp: Number(value >> 22n) + epoch,
      machineId: Number((value >> 12n) & 0x3ffn),
      sequence: Number(value & 0xfffn),
    };
  }

  /** Builds an ID from its parts (validated; nothing is masked). */
  static compose(parts: {
    timestamp: number;
    machineId: number;
    sequence: number;
    epoch?: number | Date;
  }): bigint {
    const epoch = toEpoch(parts.epoch);
    checkMachineId(parts.machineId);
    const t = parts.timestamp - epoch;
    if (!Number.isSafeInteger(t) || t < 0 || t > MAX_TIMESTAMP) {
      throw new RangeError(
        `Expected a timestamp within 2^41 ms after the epoch but received ${parts.timestamp}`,
      );
    }
    if (!Number.isInteger(parts.sequence) || parts.sequence < 0 || parts.sequence > MAX_SEQUENCE) {
      throw new RangeError(
        `Expected an integer 0–${MAX_SEQUENCE} for sequence but received ${parts.sequence}`,
      );
    }
    return (BigInt(t) << 22n) | BigInt((parts.machineId << SEQUENCE_BITS) | parts.sequence);
  }
}

/** Decimal form of `ts * 2^22 + low` with doubles only (every intermediate stays below 2^53). */
function decimal(ts: number, low: number): string {
  const q = Math.floor(ts / 1e7);
  const l = (ts - q * 1e7) * LOW_BITS + low;
  const lHigh = Math.floor(l / 1e7);
  const lLow = l - lHigh * 1e7;
  const high = q * LOW_BITS + lHigh;
  return high === 0 ? String(lLow) : String(high) + String(lLow).padStart(7, "0");
}
