// Validation of factory options: every refusal is a ConfigError naming the factory, the
// option and the value received, so a server can print one line and exit.
import { ConfigError } from "../errors.js";

/** How a received value is shown in a message: numbers as is, strings quoted, else the type. */
export function describeReceived(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value.slice(0, 80));
  if (value === null) return "null";
  return typeof value;
}

/** `owner: expected options.name to be … but received …` as a {@link ConfigError}. */
export function optionError(
  owner: string,
  option: string,
  expected: string,
  value: unknown,
  cause?: unknown,
): ConfigError {
  return new ConfigError(
    `${owner}: expected options.${option} to be ${expected} but received ${describeReceived(value)}`,
    { option, cause },
  );
}

/** An integer option `>= min`, or `fallback` when absent. */
export function integerOption(
  owner: string,
  option: string,
  value: unknown,
  fallback: number,
  min = 1,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw optionError(owner, option, `an integer >= ${min}`, value);
  }
  return value;
}

/** A string option that goes into a header, so it must be one line; `fallback` when absent. */
export function headerOption(
  owner: string,
  option: string,
  value: unknown,
  fallback: string,
): string {
  const text = value ?? fallback;
  if (typeof text !== "string" || /[\r\n]/.test(text)) {
    throw optionError(owner, option, "a single-line string", text);
  }
  return text;
}
