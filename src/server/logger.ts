// The server's logger: one JSON object per line, so log shippers need no parsing rules.

/** What the server logs through (the repository and the media handler take it as it is). */
export interface ServerLogger {
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/** Where a {@link jsonLineLogger} writes. */
export interface LogStreams {
  stdout: { write(line: string): unknown };
  stderr: { write(line: string): unknown };
}

/**
 * A logger writing JSON lines: info to `stdout`, warnings and errors to `stderr`.
 *
 * @example
 * ```ts
 * const logger = jsonLineLogger(process);
 * logger.info("media server listening", { url: "http://127.0.0.1:8008" });
 * // {"level":"info","msg":"media server listening","url":"http://127.0.0.1:8008"}
 * ```
 */
export function jsonLineLogger(streams: LogStreams): ServerLogger {
  const line = (level: string, msg: string, details?: Record<string, unknown>) =>
    `${JSON.stringify({ level, msg, ...details })}\n`;
  return {
    info: (m, d) => streams.stdout.write(line("info", m, d)),
    warn: (m, d) => streams.stderr.write(line("warn", m, d)),
    error: (m, d) => streams.stderr.write(line("error", m, d)),
  };
}
