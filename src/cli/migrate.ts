// `matrix-media-kit migrate`: copies a datastore into another, with a progress bar.
import { parseArgs } from "node:util";
import path from "node:path";
import {
  fsDatastore,
  migrateDatastore,
  s3Datastore,
  type Datastore,
  type MigrationProgress,
} from "../datastore/index.js";
import { loadConfig } from "../server/config.js";
import type { DatastoreConfig } from "../server/config-types.js";
import { createConfiguredDatastore } from "../server/datastores.js";

/** Where the CLI writes, and what it knows of its terminal. */
export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  env: Record<string, string | undefined>;
  now?: () => number;
}

export const MIGRATE_USAGE = `Usage: matrix-media-kit migrate --from STORE --to STORE [options]

Copies every blob of one datastore into another, verifying size and SHA-256 at the
destination. Interrupted or crashed runs resume where they stopped when run again.

STORE:
  ID                            a datastore of --config (its datastores[] entry with that id)
  fs:PATH                       a filesystem datastore (or just an absolute/./relative path)
  s3://BUCKET[/PREFIX/]?OPTS    an S3 datastore; OPTS: endpoint=URL, region=R,
                                forcePathStyle=true, storageClass=C, id=ID
                                credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY

Options:
  --config FILE        the media server's YAML config: STORE may name a datastore id
  --delete             delete each source blob once its copy is verified
  --no-verify          do not read copies back (sizes are still checked)
  --concurrency N      blobs in flight (default 4)
  --no-progress        log lines instead of a progress bar (for logs and CI)
  -h, --help           this text
`;

export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * The datastores of a media server config file by id, validated by the server's own config
 * loader (the environment is not read: MACHINE_ID and PORT are no business of a migration).
 */
export function readConfigDatastores(file: string): Map<string, DatastoreConfig> {
  return new Map(loadConfig({ file, env: {} }).datastores.map((d) => [d.id, d]));
}

/** Parses a datastore id of `config`, `fs:PATH`, a path, or `s3://bucket/prefix/?endpoint=…`. */
export function parseStoreSpec(
  spec: string,
  env: Record<string, string | undefined>,
  configured?: Map<string, DatastoreConfig>,
): Datastore {
  const entry = configured?.get(spec);
  if (entry) return createConfiguredDatastore(entry);
  if (spec.startsWith("s3://")) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new UsageError(`Invalid S3 store ${JSON.stringify(spec)}`);
    }
    const bucket = url.hostname;
    let prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ""));
    if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
    const q = url.searchParams;
    for (const k of q.keys()) {
      if (!["endpoint", "region", "forcePathStyle", "storageClass", "id"].includes(k)) {
        throw new UsageError(
          `Unknown S3 store option ${JSON.stringify(k)} in ${JSON.stringify(spec)}`,
        );
      }
    }
    const accessKeyId = env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
    return s3Datastore({
      bucket,
      prefix,
      ...(q.get("endpoint") ? { endpoint: q.get("endpoint")! } : {}),
      ...(q.get("region")
        ? { region: q.get("region")! }
        : env.AWS_REGION
          ? { region: env.AWS_REGION }
          : {}),
      forcePathStyle: q.get("forcePathStyle") === "true",
      ...(q.get("storageClass") ? { storageClass: q.get("storageClass")! } : {}),
      ...(q.get("id") ? { id: q.get("id")! } : {}),
      ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
    });
  }
  const dir = spec.startsWith("fs:") ? spec.slice(3) : spec;
  if (!dir || (!path.isAbsolute(dir) && !dir.startsWith("."))) {
    throw new UsageError(
      `Expected a store like fs:PATH or s3://BUCKET/ but received ${JSON.stringify(spec)}`,
    );
  }
  return fsDatastore({ root: dir });
}

function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "--:--";
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** One progress line: count, bytes, rate and ETA. */
export function formatProgress(p: MigrationProgress, width = 24): string {
  const fraction = p.total ? p.done / p.total : 0;
  const filled = Math.round(fraction * width);
  const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
  const count = `${p.done}/${p.total ?? "?"} blobs`;
  const bytes = `${formatBytes(p.bytesDone)}/${p.totalBytes === undefined ? "?" : formatBytes(p.totalBytes)}`;
  const extra = [
    p.failed ? `${p.failed} failed` : "",
    p.skipped ? `${p.skipped} already there` : "",
  ]
    .filter(Boolean)
    .join(", ");
  return `${bar} ${count}  ${bytes}  ${formatBytes(p.bytesPerSecond)}/s  ETA ${formatDuration(p.etaMs)}${extra ? `  (${extra})` : ""}`;
}

/** Runs `migrate`; resolves to the exit code. */
export async function runMigrate(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: "string" },
      config: { type: "string" },
      to: { type: "string" },
      delete: { type: "boolean", default: false },
      "no-verify": { type: "boolean", default: false },
      concurrency: { type: "string", default: "4" },
      "no-progress": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(MIGRATE_USAGE);
    return 0;
  }
  if (!values.from || !values.to) throw new UsageError("--from and --to are required");
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new UsageError(
      `Expected --concurrency to be an integer 1–256 but received ${JSON.stringify(values.concurrency)}`,
    );
  }
  const config = values.config ? readConfigDatastores(values.config) : undefined;
  const from = parseStoreSpec(values.from, io.env, config);
  const to = parseStoreSpec(values.to, io.env, config);
  const now = io.now ?? Date.now;
  const bar = !values["no-progress"] && io.stderr.isTTY === true;
  let lastDraw = 0;
  let lastLogStep = -1;
  let lastLogAt = now();
  const onProgress = (p: MigrationProgress): void => {
    const t = now();
    if (bar) {
      if (t - lastDraw < 100 && p.done !== p.total) return;
      lastDraw = t;
      const line = formatProgress(p).slice(0, Math.max(20, (io.stderr.columns ?? 120) - 1));
      io.stderr.write(`\r${line}\x1b[K`);
      return;
    }
    // Log lines: every 5 % of the blobs, or every 10 s.
    const step = p.total ? Math.floor((p.done / p.total) * 20) : -1;
    if (step > lastLogStep || t - lastLogAt >= 10_000) {
      lastLogStep = Math.max(step, lastLogStep);
      lastLogAt = t;
      io.stdout.write(
        `migrate: done=${p.done} total=${p.total ?? "?"} copied=${p.copied} skipped=${p.skipped} failed=${p.failed} deleted=${p.deleted} ` +
          `bytes=${p.bytesDone} rate=${formatBytes(p.bytesPerSecond)}/s eta=${formatDuration(p.etaMs)}\n`,
      );
    }
  };
  try {
    const report = await migrateDatastore({
      from,
      to,
      delete: values.delete,
      verify: !values["no-verify"],
      concurrency,
      onProgress,
      ...(signal ? { signal } : {}),
    });
    if (bar) io.stderr.write("\n");
    for (const { key, error } of report.errors)
      io.stderr.write(`failed ${key}: ${error.message}\n`);
    io.stdout.write(
      `migrate: finished: ${report.copied} copied, ${report.skipped} already at the destination, ${report.deleted} deleted from the source, ${report.failed} failed (${formatBytes(report.bytesDone)} in ${formatDuration(report.elapsedMs)})\n`,
    );
    return report.failed > 0 ? 1 : 0;
  } catch (err) {
    if (bar) io.stderr.write("\n");
    if (signal?.aborted) {
      io.stderr.write("migrate: interrupted; run the same command again to resume\n");
      return 130;
    }
    throw err;
  } finally {
    await Promise.all([from.dispose?.(), to.dispose?.()]);
  }
}
