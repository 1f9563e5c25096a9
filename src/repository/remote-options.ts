// The defaults and construction-time checks of the remote media options.
import type { Coordinator } from "../coordination/types.js";
import { ConfigError } from "../errors.js";
import { refuse } from "./options.js";
import type { RemoteMediaOptions, RemoteMediaSource } from "./remote-types.js";

type Numeric = Exclude<keyof RemoteMediaOptions, "source" | "coordinator" | "maxBytes">;

/**
 * Defaults of {@link RemoteMediaOptions} (`maxBytes` defaults to `limits.maxUploadBytes`).
 *
 * @example
 * ```ts
 * createMediaRepository({
 *   ...options,
 *   remote: { source, timeoutMs: DEFAULT_REMOTE_MEDIA_OPTIONS.timeoutMs * 2 },
 * });
 * ```
 */
export const DEFAULT_REMOTE_MEDIA_OPTIONS: Readonly<
  Required<Omit<RemoteMediaOptions, "source" | "coordinator" | "maxBytes">>
> = Object.freeze({
  timeoutMs: 20_000,
  lockTtlMs: 30_000,
  failureBackoffMs: 30_000,
  maxFailureBackoffMs: 10 * 60 * 1000,
  maxConcurrentPerOrigin: 8,
  maxQueuedPerOrigin: 64,
  notFoundTtlMs: 60_000,
  maxRememberedEntries: 10_000,
});

/** Longest `timeoutMs` accepted: a client is not kept waiting longer for one fetch. */
const MAX_TIMEOUT_MS = 60_000;

/** The remote options after validation. @internal */
export interface ResolvedRemoteOptions extends Required<Pick<RemoteMediaOptions, Numeric>> {
  source: RemoteMediaSource;
  coordinator: Coordinator;
  maxBytes: number;
}

/** Lowest accepted value of each numeric option. */
const MINIMUM: Record<Numeric, number> = {
  timeoutMs: 1,
  lockTtlMs: 1,
  failureBackoffMs: 0,
  maxFailureBackoffMs: 0,
  maxConcurrentPerOrigin: 1,
  maxQueuedPerOrigin: 0,
  notFoundTtlMs: 0,
  maxRememberedEntries: 1,
};

function integer(option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}–${max}`;
    throw refuse(option, `an integer ${range}`, value);
  }
  return value;
}

/**
 * Checks `options.remote` at construction; `undefined` when remote media is off.
 * `remote.coordinator` defaults to the repository's `coordinator`. @internal
 */
export function validateRemoteOptions(
  remote: RemoteMediaOptions | undefined,
  maxUploadBytes: number,
  repositoryCoordinator: Coordinator,
): ResolvedRemoteOptions | undefined {
  if (remote === undefined) return undefined;
  if (typeof remote !== "object" || remote === null) {
    throw refuse("remote", "an object ({ source, ... })", remote);
  }
  if (typeof remote.source?.download !== "function") {
    throw refuse("remote.source", "a RemoteMediaSource ({ download() })", remote.source);
  }
  const coordinator = remote.coordinator ?? repositoryCoordinator;
  if (typeof coordinator.tryLock !== "function" || typeof coordinator.wait !== "function") {
    throw refuse("remote.coordinator", "a Coordinator", remote.coordinator);
  }
  const resolved: ResolvedRemoteOptions = {
    ...DEFAULT_REMOTE_MEDIA_OPTIONS,
    source: remote.source,
    coordinator,
    maxBytes:
      remote.maxBytes === undefined
        ? maxUploadBytes
        : integer("remote.maxBytes", remote.maxBytes, 1),
  };
  for (const name of Object.keys(DEFAULT_REMOTE_MEDIA_OPTIONS) as Numeric[]) {
    const value = remote[name];
    if (value === undefined) continue;
    const max = name === "timeoutMs" ? MAX_TIMEOUT_MS : undefined;
    resolved[name] = integer(`remote.${name}`, value, MINIMUM[name], max);
  }
  const known = new Set<string>(["source", "coordinator", "maxBytes", ...Object.keys(MINIMUM)]);
  for (const name of Object.keys(remote)) {
    if (!known.has(name)) {
      throw new ConfigError(`createMediaRepository: unknown option options.remote.${name}`, {
        option: `remote.${name}`,
      });
    }
  }
  if (resolved.maxFailureBackoffMs < resolved.failureBackoffMs) {
    throw refuse(
      "remote.maxFailureBackoffMs",
      `at least remote.failureBackoffMs (${resolved.failureBackoffMs})`,
      resolved.maxFailureBackoffMs,
    );
  }
  return resolved;
}
