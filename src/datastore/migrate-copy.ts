// Copying one blob: verify a copy already at the destination, or copy and verify it.
import { createHash } from "node:crypto";
import { MediaError } from "../errors.js";
import { KEY_PATTERN } from "./internal.js";
import type { Datastore, DatastoreEntry } from "./types.js";

/** The two datastores of a migration and how it checks copies. @internal */
export interface MigrationEnds {
  readonly from: Datastore & Required<Pick<Datastore, "list">>;
  readonly to: Datastore;
  readonly verify: boolean;
  readonly signal: AbortSignal | undefined;
}

/** @internal */
export function signalOption(m: MigrationEnds): { signal?: AbortSignal } {
  return m.signal ? { signal: m.signal } : {};
}

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

async function verifyAt(
  m: MigrationEnds,
  key: string,
  expected: { size: number; sha256: string },
): Promise<boolean> {
  const got = await hashOf(m.to, key, m.signal);
  return got.size === expected.size && got.sha256 === expected.sha256;
}

/** True when the destination already holds a good copy; a bad one is deleted. @internal */
export async function hasGoodCopy(m: MigrationEnds, entry: DatastoreEntry): Promise<boolean> {
  const { key } = entry;
  const present = await m.to.head(key);
  if (!present) return false;
  if (present.size === entry.size) {
    if (!m.verify) return true;
    const sha256 = KEY_PATTERN.test(key) ? key : (await hashOf(m.from, key, m.signal)).sha256;
    if (await verifyAt(m, key, { size: entry.size, sha256 })) return true;
    // A corrupt copy at the destination: replace it.
  }
  await m.to.delete(key);
  return false;
}

/** Copies the blob and checks the copy (size and SHA-256, or size only without `verify`). @internal */
export async function copyBlob(m: MigrationEnds, entry: DatastoreEntry): Promise<void> {
  const { key } = entry;
  const { to } = m;
  const expectedSha = KEY_PATTERN.test(key) ? key : undefined;
  const { stream } = await m.from.get(key, signalOption(m));
  const result = await to.put(stream as AsyncIterable<Uint8Array>, signalOption(m));
  if (result.key !== key) {
    throw new MediaError(
      "M_UNKNOWN",
      `Datastore "${to.id}" stored ${key} under a different key (${result.key}); both datastores must key blobs by SHA-256`,
    );
  }
  if (result.size !== entry.size || (expectedSha !== undefined && result.sha256 !== expectedSha)) {
    throw new MediaError(
      "M_UNKNOWN",
      `Source blob ${key} does not match its listing or its key (size ${result.size}, sha256 ${result.sha256})`,
    );
  }
  if (m.verify) {
    if (!(await verifyAt(m, key, { size: result.size, sha256: result.sha256 }))) {
      throw new MediaError("M_UNKNOWN", `Verification of ${key} at datastore "${to.id}" failed`);
    }
  } else if ((await to.head(key))?.size !== entry.size) {
    throw new MediaError("M_UNKNOWN", `Copy of ${key} at datastore "${to.id}" has the wrong size`);
  }
}
