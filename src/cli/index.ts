#!/usr/bin/env node
/**
 * The `matrix-media-kit` command line: `matrix-media-kit serve [--config FILE]` runs the media
 * server; `matrix-media-kit migrate --from STORE --to STORE` copies a datastore into another;
 * `matrix-media-kit generate-key` prints a new federation signing key.
 *
 * @module
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";
import { MIGRATE_USAGE, runMigrate, UsageError, type CliIo } from "./migrate.js";
import { printConfigError, runServe, SERVE_USAGE } from "./serve.js";
import { GENERATE_KEY_USAGE, runGenerateKey } from "./generate-key.js";

const USAGE = `Usage: matrix-media-kit <command> [options]

Commands:
  serve      run the media server (embedded defaults, or --config FILE / MEDIA_CONFIG)
  migrate    copy (and optionally move) every blob from one datastore to another
  generate-key  a new federation signing key (Synapse's key-file format)

Run "matrix-media-kit <command> --help" for its options.
`;

const COMMAND_USAGE: Record<string, string> = {
  serve: SERVE_USAGE,
  migrate: MIGRATE_USAGE,
  "generate-key": GENERATE_KEY_USAGE,
};

/**
 * Runs the CLI with `argv` (without the node and script paths); resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await main(["migrate", "--from", "fs:./data/media", "--to", "s3://media/"]);
 * ```
 */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
  signal?: AbortSignal,
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "serve") return await runServe(rest, io, signal);
    if (command === "migrate") return await runMigrate(rest, io, signal);
    if (command === "generate-key") return runGenerateKey(rest, io);
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
      io.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`Unknown command ${JSON.stringify(command)}`);
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      io.stderr.write(`${(err as Error).message}\n\n${COMMAND_USAGE[command ?? ""] ?? USAGE}`);
      return 2;
    }
    if (ConfigError.is(err)) {
      printConfigError(io, err);
      return 2;
    }
    if (err instanceof TypeError) {
      io.stderr.write(`${err.message}\n`);
      return 2;
    }
    io.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => controller.abort(signal);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  process.exitCode = await main(process.argv.slice(2), undefined, controller.signal);
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
}
