// Per-user upload quotas: stored bytes, file count, pending uploads and bytes per time window
// (Synapse's `media_upload_limits`). The options are checked at construction; what the
// per-user hook returns is checked on every call, and a bad value falls back to the default.
import { ConfigError } from "../errors.js";
import type { RepositoryLogger } from "../repository/types.js";

/** One upload window: at most `maxBytes` uploaded per `periodMs`. */
export interface UploadWindow {
  /** Length of the window in milliseconds, a whole number of seconds (≥ 1000). */
  periodMs: number;
  /** Bytes one user may upload in one window. */
  maxBytes: number;
}

/** What a user may hold and upload. An absent limit is no limit. */
export interface UserQuota {
  /** Total bytes of a user's stored local media. */
  maxBytes?: number | undefined;
  /** Number of a user's stored local media. */
  maxFiles?: number | undefined;
  /** Unexpired pending uploads (`POST /create`) of a user. @defaultValue the repository's `limits.maxPendingPerUser` */
  maxPending?: number | undefined;
  /** Upload windows; each must hold. @defaultValue `[]` */
  uploadWindows?: readonly UploadWindow[] | undefined;
}

/**
 * Counts the bytes each user uploaded in the current window of a period. The window opens at
 * the user's first upload in it and lasts `periodMs` (a fixed window, not a sliding one).
 * Share one store (Redis, see `createRedisRateLimiter`) so every process sees the same windows.
 */
export interface UploadWindowStore {
  /** Bytes the user uploaded in the window of this period that is open now (0 when none). */
  used(userId: string, periodMs: number): Promise<number>;
  /** Adds an upload's bytes to the user's window of this period (opening one when none). */
  add(userId: string, periodMs: number, bytes: number): Promise<void>;
}

/** Options of {@link MediaHandlerOptions.quotas}: the defaults, plus a per-user override. */
export interface UploadQuotaOptions extends UserQuota {
  /**
   * A user's own limits, replacing the defaults field by field (absent fields keep the
   * default; `null` is no limit). A field that is not a valid limit, a result that is not an
   * object, and a throw keep the defaults and are logged at warn.
   */
  forUser?: (
    userId: string,
  ) => Promise<UserQuotaOverride | undefined> | UserQuotaOverride | undefined;
  /** How long `forUser` may take; then the defaults apply (logged at warn). @defaultValue 2000 */
  forUserTimeoutMs?: number;
  /** Where upload windows are counted. @defaultValue {@link memoryUploadWindows} (this process only) */
  windows?: UploadWindowStore;
  /**
   * The `info_uri` of `M_USER_LIMIT_EXCEEDED` (the spec requires one): a page telling users
   * about their limits.
   * @defaultValue the errcode's entry in the spec
   */
  infoUri?: string;
}

/** What {@link UploadQuotaOptions.forUser} returns: `null` lifts a limit. */
export type UserQuotaOverride = {
  [K in keyof UserQuota]?: UserQuota[K] | null;
};

/** Defaults of {@link UploadQuotaOptions}. */
export const DEFAULT_UPLOAD_QUOTA = Object.freeze({
  /** @defaultValue `[]` */
  uploadWindows: Object.freeze([]),
  /** @defaultValue 2000 */
  forUserTimeoutMs: 2000,
  /** @defaultValue the errcode's entry in the spec */
  infoUri: "https://spec.matrix.org/v1.18/client-server-api/#common-error-codes",
});

/** A user's limits after the override: `undefined` is no limit. @internal */
export interface ResolvedQuota {
  maxBytes: number | undefined;
  maxFiles: number | undefined;
  maxPending: number | undefined;
  uploadWindows: readonly UploadWindow[];
}

/** The checked quota options. @internal */
export interface QuotaPolicy {
  windows: UploadWindowStore;
  infoUri: string;
  limitsFor(userId: string, logger: RepositoryLogger | undefined): Promise<ResolvedQuota>;
}

const isCount = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Why a window list is not one, or `undefined` when it is. */
function windowProblem(value: unknown): string | undefined {
  if (!Array.isArray(value)) return "a list of { periodMs, maxBytes }";
  for (const w of value as unknown[]) {
    const o = w as { periodMs?: unknown; maxBytes?: unknown } | null;
    if (typeof o !== "object" || o === null) return "a list of { periodMs, maxBytes }";
    if (!(isCount(o.periodMs) && o.periodMs >= 1000 && o.periodMs % 1000 === 0)) {
      return `periodMs as a whole number of seconds in ms (≥ 1000), not ${JSON.stringify(o.periodMs)}`;
    }
    if (!isCount(o.maxBytes))
      return `maxBytes as a non-negative integer, not ${JSON.stringify(o.maxBytes)}`;
  }
  return undefined;
}

const LIMITS = ["maxBytes", "maxFiles", "maxPending"] as const;

function refuse(option: string, expected: string, value: unknown): ConfigError {
  return new ConfigError(
    `createMediaHandler: expected options.quotas.${option} to be ${expected} but received ${JSON.stringify(value)}`,
    { option: `quotas.${option}` },
  );
}

/** Checks the quota options at construction. @internal */
export function resolveQuotaPolicy(
  options: UploadQuotaOptions | undefined,
): QuotaPolicy | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) {
    throw refuse("", "an object", options);
  }
  for (const name of LIMITS) {
    const v = options[name];
    if (v !== undefined && !isCount(v)) throw refuse(name, "a non-negative integer", v);
  }
  const windows = options.uploadWindows ?? DEFAULT_UPLOAD_QUOTA.uploadWindows;
  const problem = windowProblem(windows);
  if (problem) throw refuse("uploadWindows", problem, windows);
  const { forUser, windows: store } = options;
  if (forUser !== undefined && typeof forUser !== "function")
    throw refuse("forUser", "a function", "not a function");
  if (
    store !== undefined &&
    (typeof store?.used !== "function" || typeof store.add !== "function")
  ) {
    throw refuse("windows", "an UploadWindowStore { used, add }", "an object without them");
  }
  const infoUri = options.infoUri ?? DEFAULT_UPLOAD_QUOTA.infoUri;
  if (typeof infoUri !== "string" || !/^https?:\/\//.test(infoUri)) {
    throw refuse("infoUri", "an http(s) URL", infoUri);
  }
  const timeoutMs = options.forUserTimeoutMs ?? DEFAULT_UPLOAD_QUOTA.forUserTimeoutMs;
  if (!(isCount(timeoutMs) && timeoutMs > 0))
    throw refuse("forUserTimeoutMs", "a positive integer", timeoutMs);
  const defaults: ResolvedQuota = {
    maxBytes: options.maxBytes,
    maxFiles: options.maxFiles,
    maxPending: options.maxPending,
    uploadWindows: windows.map((w) => ({ periodMs: w.periodMs, maxBytes: w.maxBytes })),
  };
  return {
    windows: store ?? memoryUploadWindows(),
    infoUri,
    limitsFor: forUser
      ? (userId, logger) => overridden(defaults, { forUser, timeoutMs }, userId, logger)
      : () => Promise.resolve(defaults),
  };
}

/** The defaults with the hook's valid fields applied; its garbage is logged and ignored. */
async function overridden(
  defaults: ResolvedQuota,
  hook: { forUser: NonNullable<UploadQuotaOptions["forUser"]>; timeoutMs: number },
  userId: string,
  logger: RepositoryLogger | undefined,
): Promise<ResolvedQuota> {
  let value: unknown;
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${hook.timeoutMs} ms`)),
        hook.timeoutMs,
      );
    });
    value = await Promise.race([Promise.resolve().then(() => hook.forUser(userId)), late]);
  } catch (error) {
    logger?.warn("quotas.forUser failed: the default quota applies", { userId, error });
    return defaults;
  } finally {
    clearTimeout(timer);
  }
  if (value === undefined || value === null) return defaults;
  if (typeof value !== "object" || Array.isArray(value)) {
    logger?.warn("quotas.forUser returned a non-object: the default quota applies", {
      userId,
      received: typeof value,
    });
    return defaults;
  }
  const o = value as Record<string, unknown>;
  const out: ResolvedQuota = { ...defaults };
  const ignored: string[] = [];
  for (const name of LIMITS) {
    const v = o[name];
    if (v === undefined) continue;
    if (v === null) out[name] = undefined;
    else if (isCount(v)) out[name] = v;
    else ignored.push(name);
  }
  if (o.uploadWindows === null) out.uploadWindows = [];
  else if (o.uploadWindows !== undefined) {
    if (windowProblem(o.uploadWindows) === undefined) {
      out.uploadWindows = (o.uploadWindows as UploadWindow[]).map((w) => ({ ...w }));
    } else ignored.push("uploadWindows");
  }
  if (ignored.length > 0) {
    logger?.warn("quotas.forUser returned invalid limits: their defaults apply", {
      userId,
      fields: ignored,
    });
  }
  return out;
}

/** Options of {@link memoryUploadWindows}. */
export interface MemoryUploadWindowsOptions {
  /** Clock in milliseconds. @defaultValue `Date.now` */
  now?: () => number;
}

/**
 * Upload windows counted in this process's memory: right for one process, and the fallback
 * of the Redis store while Redis cannot be reached. Windows past their end are forgotten.
 *
 * @example
 * ```ts
 * createMediaHandler(repo, {
 *   authenticate,
 *   quotas: { uploadWindows: [{ periodMs: 3_600_000, maxBytes: 100 << 20 }], windows: memoryUploadWindows() },
 * });
 * ```
 */
export function memoryUploadWindows(options: MemoryUploadWindowsOptions = {}): UploadWindowStore {
  const now = options.now ?? Date.now;
  const open = new Map<string, { endsAt: number; bytes: number }>();
  let sweptAt = now();
  const current = (key: string) => {
    const t = now();
    if (t - sweptAt > 60_000) {
      sweptAt = t;
      for (const [k, w] of open) if (w.endsAt <= t) open.delete(k);
    }
    const w = open.get(key);
    return w && w.endsAt > t ? w : undefined;
  };
  return {
    used: (userId, periodMs) => Promise.resolve(current(`${periodMs}:${userId}`)?.bytes ?? 0),
    add(userId, periodMs, bytes) {
      const key = `${periodMs}:${userId}`;
      const w = current(key) ?? { endsAt: now() + periodMs, bytes: 0 };
      w.bytes += bytes;
      open.set(key, w);
      return Promise.resolve();
    },
  };
}
