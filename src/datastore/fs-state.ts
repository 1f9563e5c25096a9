// The state an fs datastore's operations share, its one-time start (create, sweep), and the
// path of a blob under the root.
import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, realpath, unlink } from "node:fs/promises";
import path from "node:path";
import { MediaError } from "../errors.js";
import { assertKey, datastoreChannel, errno } from "./internal.js";

/** @internal */
export interface FsState {
  readonly id: string;
  /** The absolute root as given. */
  readonly root: string;
  readonly tmpDir: string;
  /** This host's name as it appears in temporary file names. */
  readonly host: string;
  readonly readOnly: boolean;
  readonly fsync: boolean;
  readonly staleTempMs: number;
  readonly now: () => number;
  /** The root with symlinks resolved, once started. */
  realRoot: string;
  started: Promise<void> | undefined;
}

/** Resolves once the root exists and stale temporary files are swept; retried after a failure. @internal */
export function ready(state: FsState): Promise<void> {
  state.started ??= (async () => {
    if (state.readOnly) {
      // A read-only store may sit on a read-only filesystem: create and sweep nothing.
      state.realRoot = await realpath(state.root);
      return;
    }
    await mkdir(state.tmpDir, { recursive: true });
    state.realRoot = await realpath(state.root);
    await sweepTemporaryFiles(state);
  })().catch((err: unknown) => {
    state.started = undefined;
    throw err;
  });
  return state.started;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === "EPERM";
  }
}

/**
 * Tells this process's temporary files from those of an earlier process that had the same PID
 * on the same host (node runs as PID 1 in every container start). @internal
 */
export const PROCESS_TOKEN = randomBytes(4).toString("hex");

/**
 * `<host>.<pid>.<process token>.<16 hex>.tmp`. The random part's fixed length keeps the parse
 * unambiguous when the token happens to be all digits (it could otherwise read as the pid, with
 * the real pid folded into the host).
 */
const TEMP_NAME = /^(.+)\.(\d+)\.([0-9a-f]{8})\.[0-9a-f]{16}\.tmp$/;
/** `<host>.<pid>.<random>.tmp`: files of older versions, without a token. */
const OLD_TEMP_NAME = /^(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

/** Host, pid and token of a temporary file's name. @internal */
export function parseTemporaryName(
  name: string,
): { host: string; pid: number; token: string | undefined } | undefined {
  const parts = TEMP_NAME.exec(name) ?? OLD_TEMP_NAME.exec(name);
  if (!parts) return undefined;
  return { host: parts[1]!, pid: Number(parts[2]), token: parts[3] };
}

/** The name a put of this process streams into. @internal */
export function temporaryName(state: FsState): string {
  return `${state.host}.${process.pid}.${PROCESS_TOKEN}.${randomBytes(8).toString("hex")}.tmp`;
}

/**
 * Whether a temporary file was left by a crashed writer: one of a dead process on this host, or
 * any file older than `staleTempMs` that is not this very process's (an earlier process with
 * our PID — a container restart — or another host sharing the filesystem).
 */
async function isStale(state: FsState, name: string, file: string): Promise<boolean | undefined> {
  const parts = parseTemporaryName(name);
  const pid = parts?.pid;
  const onThisHost = parts?.host === state.host;
  const ours = onThisHost && pid === process.pid && parts?.token === PROCESS_TOKEN;
  if (ours) return false;
  if (onThisHost && pid !== process.pid && !isAlive(pid!)) return true;
  const st = await lstat(file).catch(() => undefined);
  if (!st) return undefined;
  return state.now() - st.mtimeMs > state.staleTempMs;
}

/** @internal */
export async function sweepTemporaryFiles(state: FsState): Promise<number> {
  let names: string[];
  try {
    names = await readdir(state.tmpDir);
  } catch (err) {
    if (errno(err) === "ENOENT") return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    const file = path.join(state.tmpDir, name);
    if (await isStale(state, name, file)) {
      await unlink(file).then(
        () => removed++,
        () => undefined,
      );
    }
  }
  if (removed > 0) datastoreChannel.publish({ datastore: state.id, op: "sweep", removed });
  return removed;
}

/** `ab/cd/abcd…`: the blob's path relative to the root. @internal */
export function relPath(key: string): string {
  return path.join(key.slice(0, 2), key.slice(2, 4), key);
}

/** The blob's path, after checking no directory on the way is a link out of the root. @internal */
export async function blobPath(state: FsState, key: string): Promise<string | undefined> {
  assertKey(key, state.id);
  await ready(state);
  const file = path.join(state.realRoot, relPath(key));
  let dir: string;
  try {
    dir = await realpath(path.dirname(file));
  } catch (err) {
    if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return undefined;
    throw err;
  }
  if (dir !== path.dirname(file)) {
    throw new MediaError(
      "M_NOT_FOUND",
      `Blob ${key} not found in datastore "${state.id}" (its directory leaves the root)`,
    );
  }
  return file;
}
