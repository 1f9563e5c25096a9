// What the shared coordinators' options have in common, and their checks.
import { ConfigError } from "../errors.js";

/** A minimal logger (`console` fits). */
export interface CoordinationLogger {
  warn(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
  debug?(message: string, details?: Record<string, unknown>): void;
}

/** Options every shared coordinator takes. */
export interface SharedCoordinatorOptions {
  /** Deadline of one backend command; past it the command counts as failed. */
  commandTimeoutMs?: number;
  /** Receives one warning per outage (and its end, at `info`), and ignored messages. */
  logger?: CoordinationLogger;
  /**
   * A monotonic clock in milliseconds, for the local deadline of a held lock (when its
   * `signal` aborts without a successful renewal).
   * @defaultValue `performance.now`
   */
  now?: () => number;
}

/** @internal */
export interface CheckedSharedOptions {
  commandTimeoutMs: number;
  logger: CoordinationLogger | undefined;
  now: () => number;
}

/** @internal */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return Array.isArray(value) ? "an array" : "an object";
  if (typeof value === "function") return "a function";
  return typeof value === "number" ? String(value) : (JSON.stringify(value) ?? typeof value);
}

/** @internal */
export function invalid(factory: string, option: string, expected: string, value: unknown) {
  return new ConfigError(
    `${factory}: expected ${expected} for ${option} but received ${describeValue(value)}`,
    { option },
  );
}

/** @internal Checks the options of {@link SharedCoordinatorOptions}. */
export function checkSharedOptions(
  factory: string,
  options: SharedCoordinatorOptions,
  defaultTimeoutMs: number,
): CheckedSharedOptions {
  const commandTimeoutMs = options.commandTimeoutMs ?? defaultTimeoutMs;
  if (!Number.isSafeInteger(commandTimeoutMs) || commandTimeoutMs < 1) {
    throw invalid(factory, "commandTimeoutMs", "a positive integer", commandTimeoutMs);
  }
  const logger = options.logger;
  if (logger !== undefined && typeof logger?.warn !== "function") {
    throw invalid(factory, "logger", "an object with a warn method (console fits)", logger);
  }
  const now = options.now ?? (() => performance.now());
  if (typeof now !== "function") throw invalid(factory, "now", "a function", now);
  return { commandTimeoutMs, logger, now };
}

/** @internal A backend name for keys and channels: no spaces, no control characters. */
export function checkNamespace(factory: string, option: string, value: unknown): string {
  if (typeof value !== "string" || !/^[\x21-\x7e]{1,200}$/.test(value)) {
    throw invalid(factory, option, "1-200 printable ASCII characters without spaces", value);
  }
  return value;
}
