// The server's logger: pino writing one JSON object per line (info to stdout, warnings and
// errors to stderr), every line cleaned of tokens and URL userinfo, and tagged with the
// request ID of the request it was written for.
import { pino } from "pino";
import { redactText, redactValue, serializeError } from "./redact.js";
import { currentRequestId } from "./request-id.js";

/**
 * What the server logs through (the repository and the media handler take it as it is).
 * Any object with these methods fits: pino, winston, bunyan or console wrappers.
 */
export interface ServerLogger {
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
  /** Lines hostile clients cause by the thousand (aborted requests…). @defaultValue not logged */
  debug?(message: string, details?: Record<string, unknown>): void;
}

/** Where a {@link jsonLineLogger} writes. */
export interface LogStreams {
  stdout: { write(line: string): unknown };
  stderr: { write(line: string): unknown };
}

/** Options of {@link jsonLineLogger}. */
export interface JsonLineLoggerOptions {
  /** The lowest level written. @defaultValue `"info"` */
  level?: "debug" | "info" | "warn" | "error";
}

type Level = "debug" | "info" | "warn" | "error";
const LEVELS: readonly Level[] = ["debug", "info", "warn", "error"];
// Loggers that already clean and tag their lines, so wrapping them again is a no-op.
const contextual = new WeakSet<ServerLogger>();

/** The fields of one line: the request ID first, then the cleaned details. */
function fieldsOf(details: Record<string, unknown> | undefined): Record<string, unknown> {
  const requestId = currentRequestId();
  const cleaned = details === undefined ? {} : (redactValue(details) as Record<string, unknown>);
  return requestId === undefined ? cleaned : { requestId, ...cleaned };
}

/**
 * A pino logger writing JSON lines (`{"level":"info","time":…,"msg":…,…details}`): debug and
 * info to `stdout`, warnings and errors to `stderr`. Tokens (`Authorization` values,
 * `access_token` query values, token-named fields) and URL userinfo are redacted; lines
 * written while the server handles a request carry its `requestId`.
 *
 * @example
 * ```ts
 * const logger = jsonLineLogger(process);
 * logger.info("media server listening", { url: "http://127.0.0.1:8008" });
 * // {"level":"info","time":"…","msg":"media server listening","url":"http://127.0.0.1:8008"}
 * ```
 */
export function jsonLineLogger(
  streams: LogStreams,
  options: JsonLineLoggerOptions = {},
): ServerLogger {
  const level = options.level ?? "info";
  const destination = pino.multistream(
    [
      { level: "debug", stream: { write: (line: string) => streams.stdout.write(line) } },
      { level: "warn", stream: { write: (line: string) => streams.stderr.write(line) } },
    ],
    { dedupe: true },
  );
  const log = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError },
    },
    destination,
  );
  const write =
    (at: Level) =>
    (message: string, details?: Record<string, unknown>): void =>
      // `msg` right after `level` and `time`, as the lines always were (pino would put it last).
      // Messages are the kit's own text; only the development-token line names a token, on purpose.
      log[at]({ msg: redactText(message, false), ...fieldsOf(details) });
  const logger: ServerLogger = {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
  };
  contextual.add(logger);
  return logger;
}

/**
 * `logger` with every line cleaned of secrets and tagged with the current request ID, for
 * loggers an embedder passes in.
 * @internal
 */
export function contextualLogger(logger: ServerLogger): ServerLogger {
  if (contextual.has(logger)) return logger;
  const wrapped = {} as ServerLogger;
  for (const at of LEVELS) {
    if (typeof logger[at] !== "function") continue;
    wrapped[at] = (message: string, details?: Record<string, unknown>) =>
      logger[at]?.(redactText(message, false), fieldsOf(details));
  }
  contextual.add(wrapped);
  return wrapped;
}
