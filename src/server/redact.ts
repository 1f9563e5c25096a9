// What never reaches a log line: access tokens (Authorization values, `access_token` query
// values, token-named fields) and the userinfo of URLs (`https://user:pass@host`).

const SECRET_KEYS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "accesstoken",
  "access_token",
  "token",
  "password",
  "secret",
]);

const REDACTED = "[redacted]";
const MAX_DEPTH = 8;

/**
 * Removes tokens and URL userinfo from free text: `access_token=` values, `Bearer` credentials
 * (when `bearer`), `scheme://user:pass@` prefixes.
 * @internal
 */
export function redactText(text: string, bearer = true): string {
  let out = text
    .replace(/(access_token=)[^&#\s"'<>]*/gi, `$1${REDACTED}`)
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@?#]*@/gi, "$1");
  if (bearer) out = out.replace(/\b(Bearer\s+)[^\s"',;]+/gi, `$1${REDACTED}`);
  return out;
}

/**
 * A copy of `value` with every secret removed: token-named keys (any case) replaced, strings
 * cleaned with {@link redactText}, arrays and plain objects walked. Errors are kept as they
 * are (the logger cleans their message when it writes them).
 * @internal
 */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (typeof value !== "object" || value === null || value instanceof Error) return value;
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (value instanceof URL) return redactText(value.href);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEYS.has(key.toLowerCase()) ? REDACTED : redactValue(v, depth + 1);
  }
  return out;
}

/** An Error as a log field: type, cleaned message and stack, and a code when it has one. */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return redactValue(err);
  const code = (err as NodeJS.ErrnoException).code;
  return {
    type: err.name,
    message: redactText(err.message),
    ...(code !== undefined && { code }),
    ...(err.stack !== undefined && { stack: redactText(err.stack) }),
  };
}
