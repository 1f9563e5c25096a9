// Readers of one config value each: they return the value (or its default) or throw a
// ConfigError naming the key and what was received. Nothing is clamped or coerced silently.
import { ConfigError } from "../index.js";

/** A YAML mapping. @internal */
export type ConfigObject = Record<string, unknown>;

const isObject = (v: unknown): v is ConfigObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const received = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** A mapping; absent is `{}`. @internal */
export function readObject(v: unknown, key: string): ConfigObject {
  if (v === undefined || v === null) return {};
  if (!isObject(v))
    throw new ConfigError(`Expected a mapping for ${key} but received ${received(v)}`, {
      option: key,
    });
  return v;
}

/** A non-empty string; absent is `fallback`, or an error when there is none. @internal */
export function readString(v: unknown, key: string, fallback?: string): string {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${key} is required`, { option: key });
  }
  if (typeof v !== "string" || v === "")
    throw new ConfigError(`Expected a non-empty string for ${key} but received ${received(v)}`, {
      option: key,
    });
  return v;
}

/** An integer in [min, max] (a string of digits counts, for environment variables). @internal */
export function readInt(
  v: unknown,
  key: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined || v === null) return fallback;
  const n = typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(
      `Expected an integer ${min}–${max} for ${key} but received ${received(v)}`,
      {
        option: key,
      },
    );
  }
  return n;
}

/** @internal */
export function readBool(v: unknown, key: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean")
    throw new ConfigError(`Expected true or false for ${key} but received ${received(v)}`, {
      option: key,
    });
  return v;
}

/** @internal */
export function readStringList(v: unknown, key: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new ConfigError(`Expected a list of strings for ${key} but received ${received(v)}`, {
      option: key,
    });
  }
  return v as string[];
}

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  kib: 1024,
  mb: 1e6,
  mib: 1024 ** 2,
  gb: 1e9,
  gib: 1024 ** 3,
};

/** A size: `"50MiB"`, `"1 GB"` or a number of bytes. @internal */
export function readBytes(v: unknown, key: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === "number") return readInt(v, key, fallback, 1);
  const m =
    typeof v === "string"
      ? /^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$/i.exec(v)
      : null;
  if (!m)
    throw new ConfigError(`Expected a size such as 50MiB for ${key} but received ${received(v)}`, {
      option: key,
    });
  return Math.floor(Number(m[1]) * BYTE_UNITS[(m[2] ?? "B").toLowerCase()]!);
}

/** Refuses keys of `o` that are not in `known` (a typo must not be silently ignored). @internal */
export function refuseUnknownKeys(o: ConfigObject, known: readonly string[], where: string): void {
  for (const k of Object.keys(o))
    if (!known.includes(k))
      throw new ConfigError(`Unknown config key ${where ? `${where}.` : ""}${k}`, {
        option: where ? `${where}.${k}` : k,
      });
}

/**
 * Builds a component from the config section `key`, naming that key in any refusal. Factories refuse bad options with a
 * ConfigError; a TypeError or RangeError from one not converted yet becomes one too, so a bad
 * option always ends as the one-line `invalid configuration: …`, never a stack trace.
 * @internal
 */
export function buildFromConfig<T>(key: string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (!(err instanceof TypeError || err instanceof RangeError || ConfigError.is(err))) throw err;
    // Name the config key the operator wrote, whatever the factory called its option.
    if (ConfigError.is(err) && err.message.startsWith(`${key}`)) throw err;
    const inner = ConfigError.is(err) ? err.option : undefined;
    throw new ConfigError(`${key}: ${err.message}`, {
      option: inner === undefined ? key : `${key}.${inner}`,
      cause: err,
    });
  }
}
