// Shared pieces of the remote media tests: a repository over a real fs datastore and the
// memory metadata store, and a RemoteMediaSource (the embedder's seam) that counts its calls.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after } from "node:test";
import { fsDatastore } from "../../../src/datastore/index.js";
import { MediaError } from "../../../src/errors.js";
import { createMediaIdGenerator } from "../../../src/ids/index.js";
import { memoryMetadataStore } from "../../../src/metadata/memory.js";
import type { MetadataStore } from "../../../src/metadata/types.js";
import {
  createMediaRepository,
  type MediaRepository,
  type MediaRepositoryOptions,
  type RemoteMedia,
  type RemoteMediaOptions,
  type RemoteMediaSource,
} from "../../../src/repository/index.js";
import { tempDir } from "../../harness/tmp.js";

export const REMOTE = "remote.example";

/** Every file under `dir` (recursively), relative to it; a missing dir has none. */
export async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

export type Handler = (
  origin: string,
  mediaId: string,
  opts: { signal: AbortSignal; timeoutMs: number; maxBytes: number },
) => Promise<RemoteMedia>;

/** A source answering with `handler`, counting calls and remembering their signals. */
export function countingSource(handler: Handler): RemoteMediaSource & {
  calls: number;
  signals: AbortSignal[];
} {
  const source = {
    calls: 0,
    signals: [] as AbortSignal[],
    download: (origin: string, mediaId: string, opts: Parameters<Handler>[2]) => {
      source.calls++;
      source.signals.push(opts.signal);
      return handler(origin, mediaId, opts);
    },
  };
  return source;
}

/** One buffer as a remote body, in chunks of `chunk` bytes. */
export function bodyOf(
  bytes: Buffer,
  extra: Partial<RemoteMedia> = {},
  chunk = 64 * 1024,
): RemoteMedia {
  return {
    contentType: "application/octet-stream",
    contentLength: bytes.length,
    ...extra,
    stream: (async function* () {
      for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk);
    })(),
  };
}

/** A promise with its resolver, for holding a source until the test lets it go. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

export interface Setup {
  repo: MediaRepository;
  root: string;
  metadata: MetadataStore;
  dir: string;
}

/** A repository over the fs datastore at `root` and `metadata`, without timers. */
export function repositoryOn(
  root: string,
  metadata: MetadataStore,
  machineId: number,
  remote: RemoteMediaOptions | undefined,
  extra: Partial<MediaRepositoryOptions> = {},
): MediaRepository {
  return createMediaRepository({
    serverName: "example.org",
    ids: createMediaIdGenerator({ machineId }),
    datastore: fsDatastore({ root, fsync: false }),
    metadata,
    limits: { touchIntervalMs: 0, sweepIntervalMs: 0 },
    ...(remote ? { remote } : {}),
    ...extra,
  });
}

/** A repository with `remote` over an fs datastore and the memory metadata store; closed after the test file. */
export async function setup(
  remote: RemoteMediaOptions | undefined,
  extra: Partial<MediaRepositoryOptions> = {},
): Promise<Setup> {
  const dir = await tempDir("mmk-remote-");
  const root = path.join(dir.path, "media");
  const metadata = memoryMetadataStore();
  const repo = repositoryOn(root, metadata, 5, remote, extra);
  after(async () => {
    await repo.close();
    await dir.cleanup();
  });
  return { repo, root, metadata, dir: dir.path };
}

/** Asserts that `promise` rejects with a MediaError of this errcode and status. */
export async function rejectsWith(
  promise: Promise<unknown>,
  errcode: string,
  status: number,
  message?: RegExp,
): Promise<MediaError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected ${errcode} ${status}`),
    (error: unknown) => (caught = error),
  );
  assert.ok(MediaError.is(caught), `expected a MediaError, got ${String(caught)}`);
  assert.equal(caught.errcode, errcode, caught.message);
  assert.equal(caught.status, status, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** Nothing of a failed fetch stays behind: no record, no blob, no temporary file. */
export async function assertNothingStored(s: Setup, mediaId: string): Promise<void> {
  assert.equal(await s.metadata.getMedia(REMOTE, mediaId), undefined);
  assert.deepEqual(await files(s.root), []);
}
