import { ConfigError } from "../errors.js";
import { isValidServerName } from "../ids/validate.js";
import type { LiveRepositoryLimits, MediaRepositoryOptions, RepositoryLimits } from "./types.js";

/**
 * Defaults of {@link RepositoryLimits}; override any of them with `limits`.
 *
 * @example
 * ```ts
 * createMediaRepository({ ...options, limits: { maxUploadBytes: DEFAULT_REPOSITORY_LIMITS.maxUploadBytes * 2 } });
 * ```
 */
export const DEFAULT_REPOSITORY_LIMITS: Readonly<RepositoryLimits> = Object.freeze({
  maxUploadBytes: 50 * 1024 * 1024,
  maxPendingPerUser: 10,
  pendingExpiryMs: 24 * 60 * 60 * 1000,
  defaultWaitMs: 20_000,
  maxWaitMs: 60_000,
  pendingPollMs: 2_000,
  maxCachedBytes: 4 * 1024 * 1024,
  maxThumbnailSourceBytes: 50 * 1024 * 1024,
  maxThumbnailSourceMemoryBytes: 256 * 1024 * 1024,
  maxDynamicThumbnailsPerMedia: 10,
  touchIntervalMs: 30_000,
  previewTtlMs: 60 * 60 * 1000,
  sweepIntervalMs: 10 * 60 * 1000,
});

const FACTORY = "createMediaRepository";

/** How a refused option value is described in a `ConfigError`. @internal */
export function received(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object" && value !== null) return "an object";
  return String(value);
}

/** The `ConfigError` of `options.<option>`. @internal */
export function refuse(option: string, expected: string, value: unknown): ConfigError {
  return new ConfigError(
    `${FACTORY}: expected options.${option} to be ${expected} but received ${received(value)}`,
    { option },
  );
}

/** The limits {@link MediaRepository.updateLimits} may change: each is read per request. */
const LIVE_LIMITS: ReadonlySet<string> = new Set<keyof LiveRepositoryLimits>([
  "maxUploadBytes",
  "maxPendingPerUser",
]);

/**
 * `updateLimits`: checks `patch` as the options are checked at construction, then changes
 * `limits` in place (the repository reads them per request). A refused patch changes nothing.
 * @internal
 */
export function updateLiveLimits(
  limits: RepositoryLimits,
  patch: Partial<LiveRepositoryLimits>,
): void {
  if (typeof patch !== "object" || patch === null) {
    throw refuse("limits", "an object", patch);
  }
  for (const name of Object.keys(patch)) {
    if (!LIVE_LIMITS.has(name)) {
      throw new ConfigError(
        `updateLimits: limits.${name} cannot change on a running repository (only ${[...LIVE_LIMITS].join(", ")})`,
        { option: `limits.${name}` },
      );
    }
  }
  const next = validateLimits({ ...limits, ...patch });
  for (const name of LIVE_LIMITS) {
    const key = name as keyof LiveRepositoryLimits;
    limits[key] = next[key];
  }
}

function validateLimits(limits: Partial<RepositoryLimits> | undefined): RepositoryLimits {
  const merged: RepositoryLimits = { ...DEFAULT_REPOSITORY_LIMITS };
  for (const [name, value] of Object.entries(limits ?? {})) {
    const option = `limits.${name}`;
    if (!(name in DEFAULT_REPOSITORY_LIMITS)) {
      throw new ConfigError(`${FACTORY}: unknown option options.${option}`, { option });
    }
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw refuse(option, "a non-negative integer", value);
    }
    merged[name as keyof RepositoryLimits] = value;
  }
  if (merged.maxUploadBytes < 1) {
    throw refuse("limits.maxUploadBytes", "an integer >= 1", merged.maxUploadBytes);
  }
  if (merged.maxThumbnailSourceMemoryBytes < Math.max(1, merged.maxThumbnailSourceBytes)) {
    throw refuse(
      "limits.maxThumbnailSourceMemoryBytes",
      `at least 1 and at least limits.maxThumbnailSourceBytes (${merged.maxThumbnailSourceBytes})`,
      merged.maxThumbnailSourceMemoryBytes,
    );
  }
  if (merged.pendingPollMs < 1) {
    throw refuse("limits.pendingPollMs", "an integer >= 1", merged.pendingPollMs);
  }
  if (merged.defaultWaitMs > merged.maxWaitMs) {
    throw refuse(
      "limits.defaultWaitMs",
      `at most limits.maxWaitMs (${merged.maxWaitMs})`,
      merged.defaultWaitMs,
    );
  }
  return merged;
}

function validateServerNames(options: MediaRepositoryOptions): string[] {
  if (options.serverName !== undefined && options.serverNames !== undefined) {
    throw new ConfigError(
      `${FACTORY}: give either options.serverName or options.serverNames, not both`,
      { option: "serverNames" },
    );
  }
  if (options.serverNames !== undefined) {
    const names = [...options.serverNames];
    if (names.length === 0) {
      throw refuse("serverNames", "a non-empty list of Matrix server names", options.serverNames);
    }
    names.forEach((name, i) => {
      if (!isValidServerName(name)) throw refuse(`serverNames[${i}]`, "a Matrix server name", name);
    });
    return names;
  }
  if (options.serverName === undefined || !isValidServerName(options.serverName)) {
    throw refuse("serverName", "a Matrix server name (or give serverNames)", options.serverName);
  }
  return [options.serverName];
}

/** The poll of a pending upload's waiters without a shared coordinator to wake them. */
const LOCAL_PENDING_POLL_MS = 500;

/** The options of {@link createMediaRepository} after validation. @internal */
export interface ValidatedOptions {
  serverNames: readonly string[];
  limits: Readonly<RepositoryLimits>;
}

/**
 * Checks every option once, at construction, and throws a {@link ConfigError} naming the
 * option and what it received. @internal
 */
export function validateRepositoryOptions(options: MediaRepositoryOptions): ValidatedOptions {
  if (typeof options !== "object" || options === null) {
    throw new ConfigError(
      `${FACTORY}: expected an options object but received ${received(options)}`,
    );
  }
  const serverNames = validateServerNames(options);
  if (typeof options.ids?.next !== "function") {
    throw refuse("ids", "a media ID generator ({ next(): string })", options.ids);
  }
  if (typeof options.datastore !== "object" || options.datastore === null) {
    throw refuse("datastore", "a Datastore or a datastore router (routeByKind)", options.datastore);
  }
  if (typeof options.metadata?.getMedia !== "function") {
    throw refuse("metadata", "a MetadataStore", options.metadata);
  }
  const coordinator = options.coordinator;
  if (
    coordinator !== undefined &&
    (typeof coordinator?.wait !== "function" || typeof coordinator.notify !== "function")
  ) {
    throw refuse("coordinator", "a Coordinator", coordinator);
  }
  const limits = validateLimits(options.limits);
  // Without wake-ups from other processes, polling is how their completions are seen.
  const shared = coordinator !== undefined && coordinator.kind !== "memory";
  if (options.limits?.pendingPollMs === undefined && !shared) {
    limits.pendingPollMs = LOCAL_PENDING_POLL_MS;
  }
  return { serverNames, limits };
}
