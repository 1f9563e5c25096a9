/**
 * The one error type that reaches Matrix clients.
 *
 * @module
 */

/**
 * Matrix `errcode`s the kit produces. Any other string is allowed for custom hooks.
 */
export type MatrixErrcode =
  | "M_BAD_JSON"
  | "M_CANNOT_OVERWRITE_MEDIA"
  | "M_FORBIDDEN"
  | "M_INVALID_PARAM"
  | "M_LIMIT_EXCEEDED"
  | "M_MISSING_PARAM"
  | "M_MISSING_TOKEN"
  | "M_NOT_FOUND"
  | "M_NOT_JSON"
  | "M_NOT_YET_UPLOADED"
  | "M_TOO_LARGE"
  | "M_UNAUTHORIZED"
  | "M_UNKNOWN"
  | "M_UNKNOWN_TOKEN"
  | "M_UNRECOGNIZED"
  | "M_UNSUPPORTED"
  | "M_USER_LIMIT_EXCEEDED"
  | (string & {});

const DEFAULT_STATUS: Record<string, number> = {
  M_BAD_JSON: 400,
  M_CANNOT_OVERWRITE_MEDIA: 409,
  M_FORBIDDEN: 403,
  M_INVALID_PARAM: 400,
  M_LIMIT_EXCEEDED: 429,
  M_MISSING_PARAM: 400,
  M_MISSING_TOKEN: 401,
  M_NOT_FOUND: 404,
  M_NOT_JSON: 400,
  M_NOT_YET_UPLOADED: 504,
  M_TOO_LARGE: 413,
  M_UNAUTHORIZED: 401,
  M_UNKNOWN: 500,
  M_UNKNOWN_TOKEN: 401,
  M_UNRECOGNIZED: 404,
  M_UNSUPPORTED: 400,
  // Spec v1.18 leaves the status to each endpoint; the upload endpoints answer a quota with 403.
  M_USER_LIMIT_EXCEEDED: 403,
};

/** Options of {@link MediaError}. */
export interface MediaErrorOptions {
  /** HTTP status. @defaultValue the usual status of the errcode (500 for unknown ones) */
  status?: number;
  /** The underlying error, kept for logs and never sent to clients. */
  cause?: unknown;
  /** For `M_LIMIT_EXCEEDED`: how long the client should wait, sent as `retry_after_ms` and `Retry-After`. */
  retryAfterMs?: number;
  /**
   * More fields of the error body, e.g. `info_uri` and `can_upgrade` of
   * `M_USER_LIMIT_EXCEEDED`. `errcode`, `error` and `retry_after_ms` cannot be replaced.
   */
  fields?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * An error with a Matrix `errcode`, an HTTP status and a message safe to show a client.
 *
 * @example
 * ```ts
 * throw new MediaError("M_NOT_FOUND", "Media not found");
 * throw new MediaError("M_TOO_LARGE", "Upload exceeds limits.maxUploadBytes (50 MiB)");
 * ```
 */
export class MediaError extends Error {
  /** The Matrix errcode, e.g. `M_NOT_FOUND`. */
  readonly errcode: MatrixErrcode;
  /** The HTTP status the error maps to. */
  readonly status: number;
  /** For rate limits: milliseconds until a retry may succeed. */
  readonly retryAfterMs: number | undefined;
  /** More fields of the error body (see {@link MediaErrorOptions.fields}). */
  readonly fields: Readonly<Record<string, string | number | boolean>> | undefined;

  constructor(errcode: MatrixErrcode, message: string, options: MediaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MediaError";
    this.errcode = errcode;
    this.status = options.status ?? DEFAULT_STATUS[errcode] ?? 500;
    this.retryAfterMs = options.retryAfterMs;
    this.fields = options.fields;
  }

  /** The Matrix error body: `{ errcode, error }` (plus `retry_after_ms` for rate limits). */
  toJSON(): { errcode: string; error: string; retry_after_ms?: number } {
    const base = { ...this.fields, errcode: this.errcode, error: this.message };
    return this.retryAfterMs === undefined ? base : { ...base, retry_after_ms: this.retryAfterMs };
  }

  /** True when `value` is a {@link MediaError}, also across duplicated copies of the package. */
  static is(value: unknown): value is MediaError {
    return (
      value instanceof MediaError ||
      (value instanceof Error &&
        value.name === "MediaError" &&
        typeof (value as { errcode?: unknown }).errcode === "string" &&
        typeof (value as { status?: unknown }).status === "number")
    );
  }
}

/**
 * A factory or configuration option that the kit refuses: thrown at construction, never at
 * request time. Every factory (`redisRingCache`, `s3Datastore`, `createThumbnailer`, …) and the
 * standalone's config loader throw this one class, so a server can print one line and exit.
 * It extends `RangeError` so code that caught the earlier `RangeError`s keeps working.
 *
 * @example
 * ```ts
 * try {
 *   new Snowflake({ machineId: 4200 });
 * } catch (err) {
 *   if (err instanceof ConfigError) console.error(`invalid configuration: ${err.message}`);
 * }
 * ```
 */
export class ConfigError extends RangeError {
  /** The option at fault, as a dotted path when known (e.g. `cache.redis.shards[1].port`). */
  readonly option: string | undefined;

  constructor(message: string, options: { option?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ConfigError";
    this.option = options.option;
  }

  /** True when `value` is a {@link ConfigError}, also across duplicated copies of the package. */
  static is(value: unknown): value is ConfigError {
    return value instanceof ConfigError || (value instanceof Error && value.name === "ConfigError");
  }
}
