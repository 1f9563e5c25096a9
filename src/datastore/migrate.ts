// Copies every blob from one datastore to another, verified, resumable.
import { createHash } from "node:crypto";
import { MediaError } from "../errors.js";
import { KEY_PATTERN } from "./internal.js";
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

async function hashOf(
  store: Datastore,
  key: string,
  signal: AbortSignal | undefined,
): Promise<{ size: number; sha256: string }> {
  const { stream } = await store.get(key, signal ? { signal } : {});
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { size, sha256: hash.digest("hex") };
}

/**
 * Copies every blob of `from` to `to`, verifying size and SHA-256 at the destination
 * (by reading the copy back) before counting it, and — with `delete: true` — deleting the
 * source blob only after that verification. A blob already present at the destination
 * with the right size is verified in place and not copied again, so an interrupted or
 * crashed migration resumes by running it again; a corrupt destination copy is replaced.
 *
 * Failures of single blobs are counted and reported, not thrown; an abort throws.
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
  const { from, to, signal, onProgress } = options;
  if (!from?.list || !from.capabilities.list) {
    throw new TypeError(`Expected from to be a Datastore that can list() (from.capabilities.list)`);
  }
  if (!to || typeof to.put !== "function") throw new TypeError("Expected to to be a Datastore");
  if (to.capabilities.readOnly) throw new TypeError(`Datastore "${to.id}" (to) is read-only`);
  const del = options.delete ?? DEFAULT_MIGRATE_OPTIONS.delete;
  if (del && from.capabilities.readOnly) {
    throw new TypeError(`Datastore "${from.id}" (from) is read-only: delete cannot be used`);
  }
  const verify = options.verify ?? DEFAULT_MIGRATE_OPTIONS.verify;
  const concurrency = options.concurrency ?? DEFAULT_MIGRATE_OPTIONS.concurrency;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new TypeError(
      `Expected concurrency to be an integer 1–256 but received ${String(concurrency)}`,
    );
  }
  const now = options.now ?? Date.now;
  const started = now();
  const list = from.list.bind(from);

  const state: MigrationReport = {
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
  };
  const snapshot = (): MigrationProgress => {
    const elapsedMs = now() - started;
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
  };

  if (options.count ?? DEFAULT_MIGRATE_OPTIONS.count) {
    let total = 0;
    let totalBytes = 0;
    for await (const e of list(signal ? { signal } : {})) {
      total++;
      totalBytes += e.size;
    }
    state.total = total;
    state.totalBytes = totalBytes;
  }
  onProgress?.(snapshot());

  async function verifyAt(
    key: string,
    expected: { size: number; sha256: string },
  ): Promise<boolean> {
    const got = await hashOf(to, key, signal);
    return got.size === expected.size && got.sha256 === expected.sha256;
  }

  async function one(entry: DatastoreEntry): Promise<void> {
    const key = entry.key;
    const expectedSha = KEY_PATTERN.test(key) ? key : undefined;
    let present = await to.head(key);
    let copied = false;
    if (present && present.size === entry.size) {
      if (verify) {
        const expected = {
          size: entry.size,
          sha256: expectedSha ?? (await hashOf(from, key, signal)).sha256,
        };
        if (!(await verifyAt(key, expected))) {
          // A corrupt copy at the destination: replace it.
          await to.delete(key);
          present = undefined;
        }
      }
    } else if (present) {
      await to.delete(key);
      present = undefined;
    }
    if (!present) {
      const { stream } = await from.get(key, signal ? { signal } : {});
      const result = await to.put(stream as AsyncIterable<Uint8Array>, signal ? { signal } : {});
      if (result.key !== key) {
        throw new MediaError(
          "M_UNKNOWN",
          `Datastore "${to.id}" stored ${key} under a different key (${result.key}); both datastores must key blobs by SHA-256`,
        );
      }
      if (
        result.size !== entry.size ||
        (expectedSha !== undefined && result.sha256 !== expectedSha)
      ) {
        throw new MediaError(
          "M_UNKNOWN",
          `Source blob ${key} does not match its listing or its key (size ${result.size}, sha256 ${result.sha256})`,
        );
      }
      if (verify) {
        if (!(await verifyAt(key, { size: result.size, sha256: result.sha256 }))) {
          throw new MediaError(
            "M_UNKNOWN",
            `Verification of ${key} at datastore "${to.id}" failed`,
          );
        }
      } else if ((await to.head(key))?.size !== entry.size) {
        throw new MediaError(
          "M_UNKNOWN",
          `Copy of ${key} at datastore "${to.id}" has the wrong size`,
        );
      }
      copied = true;
    }
    if (del) {
      await from.delete(key);
      state.deleted++;
    }
    if (copied) state.copied++;
    else state.skipped++;
  }

  const seenFailed = new Set<string>();
  // With delete, listing while deleting may skip entries on some stores: list again until
  // a pass finds nothing left to do.
  for (let pass = 0; pass < (del ? 5 : 1); pass++) {
    let handledThisPass = 0;
    const iterator = list(signal ? { signal } : {})[Symbol.asyncIterator]();
    const worker = async (): Promise<void> => {
      for (;;) {
        signal?.throwIfAborted();
        const next = await iterator.next();
        if (next.done) return;
        const entry = next.value;
        if (seenFailed.has(entry.key)) continue;
        handledThisPass++;
        try {
          await one(entry);
        } catch (err) {
          if (signal?.aborted) throw err;
          state.failed++;
          seenFailed.add(entry.key);
          if (state.errors.length < 100) {
            state.errors.push({
              key: entry.key,
              error: err instanceof Error ? err : new Error(String(err)),
            });
          }
        }
        state.done++;
        state.bytesDone += entry.size;
        onProgress?.(snapshot());
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (!del || handledThisPass === 0) break;
  }
  const final = snapshot();
  return { ...final, errors: state.errors };
}
