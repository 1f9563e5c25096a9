// `matrix-media-kit serve`: the media server on embedded defaults, or --config FILE / MEDIA_CONFIG.
import { parseArgs } from "node:util";
import { ConfigError } from "../errors.js";
import type { CliIo } from "./migrate.js";

export const SERVE_USAGE = `Usage: matrix-media-kit serve [--config FILE]

Runs the media server. Without a config it serves on http://127.0.0.1:8008 with a
filesystem datastore and embedded metadata under ./data, and prints a development token.

Options:
  --config FILE   the YAML config (see examples/media.example.yaml in the package docs)
  -h, --help      this text

Environment:
  MEDIA_CONFIG    the config file when --config is not given
  MACHINE_ID      this process's machine ID, 0-1023 (leased in Redis with cache.redis)
  PORT            the port to listen on, over listen.port (0 picks a free one)
`;

/**
 * Prints a refused option as one line: a YAML parse error spans several lines, and a stack
 * trace tells an operator nothing about which key to fix.
 */
export function printConfigError(io: CliIo, err: Error): void {
  io.stderr.write(`invalid configuration: ${err.message.replace(/\s*\n\s*/g, " ").trim()}\n`);
}

/**
 * Runs `serve` until `signal` aborts (SIGINT, SIGTERM: in-flight requests drain for
 * `shutdown.drainMs`); SIGHUP reloads the config. Resolves to the exit code.
 */
export async function runServe(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(SERVE_USAGE);
    return 0;
  }
  // Loaded on demand: `--help` and `migrate` need neither sharp nor pg nor ioredis.
  const { jsonLineLogger, loadConfig, startMediaServer } = await import("../server/index.js");
  const logger = jsonLineLogger(io);
  // SIGHUP reloads the config; a refused one is logged by reload() and changes nothing. The
  // handler is in place before the server starts (the default action of SIGHUP ends the
  // process), and a SIGHUP that arrives while it starts is applied once it is up.
  let server: Awaited<ReturnType<typeof startMediaServer>> | undefined;
  let hangupWhileStarting = false;
  const onHangup = (): void => {
    if (server) void server.reload().catch(() => undefined);
    else hangupWhileStarting = true;
  };
  process.on("SIGHUP", onHangup);
  try {
    try {
      const load = () => loadConfig({ file: values.config, env: io.env });
      server = await startMediaServer(load(), { logger, loadConfig: load });
    } catch (err) {
      // Until every factory throws ConfigError, their TypeErrors and RangeErrors are bad options too.
      if (ConfigError.is(err) || err instanceof TypeError || err instanceof RangeError) {
        printConfigError(io, err);
        return 2;
      }
      throw err;
    }
    if (hangupWhileStarting) onHangup();
    // Without a signal the server runs until the process ends.
    await new Promise((resolve) => {
      if (signal?.aborted) resolve(undefined);
      signal?.addEventListener("abort", resolve, { once: true });
    });
  } finally {
    process.off("SIGHUP", onHangup);
  }
  logger.info("shutting down", { signal: String(signal?.reason) });
  await server.close();
  logger.info("shut down");
  return 0;
}
