// Copies every blob from one datastore to another, verified, resumable.
import { ConfigError } from "../errors.js";
import { describeOption } from "./internal.js";
import { copyBlob, hasGoodCopy, signalOption, type MigrationEnds } from "./migrate-copy.js";
import type { Datastore, DatastoreEntry } from "./types.js";

/** Progress of {@link migrateDatastore}, reported after every blob. */
export interface MigrationProgress {
  /** Blobs in the source when the migration started (`undefined` with `count: false`). */
  total: number | undefined;
  /** Their bytes. */
  totalBytes: number | undefined;
  /** Blobs handled so far (copied + skipped + failed). */
  done: number;
  /** Bytes of the blobs handled so far. */
  bytesDone: number;
  /** Blobs copied and verified. */
  copied: number;
  /** Blobs already present and verified at the destination (not copied again). */
  skipped: number;
  /** Blobs that failed (see the report's `errors`). */
  failed: number;
  /** Source blobs deleted after verification (`delete: true`). */
  deleted: number;
  /** Milliseconds since the start. */
  elapsedMs: number;
  /** Average throughput so far. */
  bytesPerSecond: number;
  /** Estimated milliseconds left, when the total is known. */
  etaMs: number | undefined;
}

/** What {@link migrateDatastore} resolves to. */
export interface MigrationReport extends MigrationProgress {
  /** The first 100 failures. */
  errors: Array<{ key: string; error: Error }>;
}

/** Options of {@link migrateDatastore}. */
export interface MigrateDatastoreOptions {
  /** Where blobs are now (needs `capabilities.list`). */
  from: Datastore;
  /** Where they go. Must key blobs the same way (the kit's drivers all use the SHA-256). */
  to: Datastore;
  /** Delete each source blob once its copy is verified. @defaultValue `false` */
  delete?: boolean;
  /** Read every destination blob back and check its size and SHA-256. @defaultValue `true` */
  verify?: boolean;
  /** Blobs in flight at once. @defaultValue 4 */
  concurrency?: number;
  /** Count the source first so progress has a total and an ETA. @defaultValue `true` */
  count?: boolean;
  /** Stops the migration; it can be resumed by running it again. */
  signal?: AbortSignal;
  /** Called after every blob. */
  onProgress?: (progress: MigrationProgress) => void;
  /** The clock for rates and ETAs. @defaultValue `Date.now` */
  now?: () => number;
}

/** Defaults of {@link MigrateDatastoreOptions}. */
export const DEFAULT_MIGRATE_OPTIONS = {
  /** @defaultValue `false` */
  delete: false,
  /** @defaultValue `true` */
  verify: true,
  /** @defaultValue 4 */
  concurrency: 4,
  /** @defaultValue `true` */
  count: true,
} as const;

/** A migration under way: its validated options and its counters. */
interface Migration extends MigrationEnds {
  readonly delete: boolean;
  readonly concurrency: number;
  readonly onProgress: ((progress: MigrationProgress) => void) | undefined;
  readonly now: () => number;
  readonly started: number;
  readonly report: MigrationReport;
  /** Keys that failed once: not retried by later passes. */
  readonly failedKeys: Set<string>;
}

/** The most failures a report keeps. */
const MAX_REPORTED_ERRORS = 100;
/** With `delete`, how many times the source is listed again to catch entries a listing skipped. */
const MAX_DELETE_PASSES = 5;

function invalid(option: string, message: string): ConfigError {
  return new ConfigError(`migrateDatastore: ${message}`, { option });
}

function startMigration(options: MigrateDatastoreOptions): Migration {
  const { from, to } = options;
  if (!from?.list || !from.capabilities.list) {
    throw invalid(
      "from",
      `expected options.from to be a Datastore that can list() (from.capabilities.list) but received ${describeOption(from)}`,
    );
  }
  if (!to || typeof to.put !== "function")
    throw invalid("to", `expected options.to to be a Datastore but received ${describeOption(to)}`);
  if (to.capabilities.readOnly)
    throw invalid("to", `datastore "${to.id}" (options.to) is read-only`);
  const del = options.delete ?? DEFAULT_MIGRATE_OPTIONS.delete;
  if (del && from.capabilities.readOnly) {
    throw invalid(
      "delete",
      `datastore "${from.id}" (options.from) is read-only: options.delete cannot be used`,
    );
  }
  const concurrency = options.concurrency ?? DEFAULT_MIGRATE_OPTIONS.concurrency;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw invalid(
      "concurrency",
      `expected options.concurrency to be an integer 1–256 but received ${String(concurrency)}`,
    );
  }
  const now = options.now ?? Date.now;
  return {
    from: from as Migration["from"],
    to,
    delete: del,
    verify: options.verify ?? DEFAULT_MIGRATE_OPTIONS.verify,
    concurrency,
    signal: options.signal,
    onProgress: options.onProgress,
    now,
    started: now(),
    report: {
      total: undefined,
      totalBytes: undefined,
      done: 0,
      bytesDone: 0,
      copied: 0,
      skipped: 0,
      failed: 0,
      deleted: 0,
      elapsedMs: 0,
      bytesPerSecond: 0,
      etaMs: undefined,
      errors: [],
    },
    failedKeys: new Set(),
  };
}

/** Updates the rates and the ETA, and returns the progress without the errors. */
function snapshot(m: Migration): MigrationProgress {
  const state = m.report;
  const elapsedMs = m.now() - m.started;
  const bytesPerSecond = elapsedMs > 0 ? (state.bytesDone * 1000) / elapsedMs : 0;
  const left =
    state.totalBytes === undefined ? undefined : Math.max(0, state.totalBytes - state.bytesDone);
  const etaMs =
    left === undefined
      ? undefined
      : left === 0
        ? 0
        : bytesPerSecond > 0
          ? (left / bytesPerSecond) * 1000
          : undefined;
  Object.assign(state, { elapsedMs, bytesPerSecond, etaMs });
  const { errors: _errors, ...progress } = state;
  return progress;
}

async function countSource(m: Migration): Promise<void> {
  let total = 0;
  let totalBytes = 0;
  for await (const e of m.from.list(signalOption(m))) {
    total++;
    totalBytes += e.size;
  }
  m.report.total = total;
  m.report.totalBytes = totalBytes;
}

async function migrateOne(m: Migration, entry: DatastoreEntry): Promise<void> {
  const copied = !(await hasGoodCopy(m, entry));
  if (copied) await copyBlob(m, entry);
  if (m.delete) {
    await m.from.delete(entry.key);
    m.report.deleted++;
  }
  if (copied) m.report.copied++;
  else m.report.skipped++;
}

function recordFailure(m: Migration, key: string, err: unknown): void {
  m.report.failed++;
  m.failedKeys.add(key);
  if (m.report.errors.length < MAX_REPORTED_ERRORS) {
    m.report.errors.push({ key, error: err instanceof Error ? err : new Error(String(err)) });
  }
}

/** One listing of the source, `concurrency` blobs at a time; resolves to how many it handled. */
async function runPass(m: Migration): Promise<number> {
  let handled = 0;
  const iterator = m.from.list(signalOption(m))[Symbol.asyncIterator]();
  const worker = async (): Promise<void> => {
    for (;;) {
      m.signal?.throwIfAborted();
      const next = await iterator.next();
      if (next.done) return;
      const entry = next.value;
      if (m.failedKeys.has(entry.key)) continue;
      handled++;
      try {
        await migrateOne(m, entry);
      } catch (err) {
        if (m.signal?.aborted) throw err;
        recordFailure(m, entry.key, err);
      }
      m.report.done++;
      m.report.bytesDone += entry.size;
      m.onProgress?.(snapshot(m));
    }
  };
  await Promise.all(Array.from({ length: m.concurrency }, worker));
  return handled;
}

/**
 * Copies every blob of `from` to `to`, verifying size and SHA-256 at the destination
 * (by reading the copy back) before counting it, and — with `delete: true` — deleting the
 * source blob only after that verification. A blob already present at the destination
 * with the right size is verified in place and not copied again, so an interrupted or
 * crashed migration resumes by running it again; a corrupt destination copy is replaced.
 *
 * Failures of single blobs are counted and reported, not thrown; an abort throws. Invalid
 * options throw a `ConfigError` naming the option.
 *
 * @example
 * ```ts
 * import { fsDatastore, s3Datastore, migrateDatastore } from "matrix-media-kit/datastore";
 * const report = await migrateDatastore({
 *   from: fsDatastore({ root: "./data/media" }),
 *   to: s3Datastore({ bucket: "media", endpoint: "http://garage:3900", forcePathStyle: true }),
 *   delete: true,
 *   onProgress: (p) => console.log(`${p.done}/${p.total}`),
 * });
 * if (report.failed > 0) process.exitCode = 1;
 * ```
 */
export async function migrateDatastore(options: MigrateDatastoreOptions): Promise<MigrationReport> {
  const m = startMigration(options);
  if (options.count ?? DEFAULT_MIGRATE_OPTIONS.count) await countSource(m);
  m.onProgress?.(snapshot(m));
  // With delete, listing while deleting may skip entries on some stores: list again until
  // a pass finds nothing left to do.
  for (let pass = 0; pass < (m.delete ? MAX_DELETE_PASSES : 1); pass++) {
    const handled = await runPass(m);
    if (!m.delete || handled === 0) break;
  }
  return { ...snapshot(m), errors: m.report.errors };
}
