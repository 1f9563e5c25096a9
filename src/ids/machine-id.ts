import { ConfigError } from "../errors.js";

/** The largest machine ID a 10-bit field holds. */
export const MAX_MACHINE_ID = 1023;

/**
 * Parses a `MACHINE_ID` setting: only an integer string (or integer number) 0–1023.
 * Anything else throws, naming `MACHINE_ID` — a bad value is never turned into 0.
 *
 * @throws ConfigError (a RangeError) for out-of-range or malformed values.
 * @example
 * ```ts
 * const machineId = parseMachineId(process.env.MACHINE_ID); // "7" -> 7; "abc" throws
 * ```
 */
export function parseMachineId(value: string | number | undefined): number {
  if (typeof value === "number") {
    if (Number.isInteger(value) && value >= 0 && value <= MAX_MACHINE_ID) return value;
    throw new ConfigError(
      `Expected an integer 0–${MAX_MACHINE_ID} for MACHINE_ID but received ${String(value)}`,
    );
  }
  if (value === undefined) {
    throw new ConfigError(
      `MACHINE_ID is not set: give each media-repo process a distinct integer 0–${MAX_MACHINE_ID} (or lease one with leaseMachineId)`,
    );
  }
  if (!/^[0-9]{1,4}$/.test(value) || Number(value) > MAX_MACHINE_ID) {
    throw new ConfigError(
      `Expected an integer 0–${MAX_MACHINE_ID} for MACHINE_ID but received ${JSON.stringify(value.slice(0, 40))}`,
    );
  }
  return Number(value);
}
