// Records, assertions and types shared by the groups of the metadata conformance suite.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { MediaError } from "../../errors.js";
import type { MediaRecord, MetadataStore, ThumbnailRecord } from "../../metadata/types.js";

/** @internal Strings that break naive SQL, LIKE patterns and encodings. */
export const HOSTILE = [
  `Robert'); DROP TABLE mmk_media;--`,
  `"double" 'single' \`back\` \\ backslash`,
  "semi;colons;; and -- comments /* block */",
  "%_ LIKE wildcards %% __",
  "emoji 🐈‍⬛🏳️‍🌈 and CJK 猫 and RTL עברית",
  "new\nline\ttab\r\n",
  "$1 $$dollar$$ quoting E'\\x00'",
];

let counter = 0;
/** @internal A media ID unique across the whole test run. */
export const newId = (): string =>
  `m${Date.now().toString(36)}${(counter++).toString(36)}${randomBytes(4).toString("hex")}`;
/** @internal */
export const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

/** @internal A valid local record; `overrides` replace fields. */
export function media(overrides: Partial<MediaRecord> = {}): MediaRecord {
  return {
    origin: "example.org",
    mediaId: newId(),
    kind: "local",
    contentType: "image/png",
    filename: "cat.png",
    size: 1234,
    sha256: sha(randomBytes(8).toString("hex")),
    datastoreId: "fs",
    location: `local/${randomBytes(6).toString("hex")}`,
    uploader: "@alice:example.org",
    createdAt: 1_700_000_000_000,
    lastAccessAt: 1_700_000_000_000,
    quarantined: false,
    protected: false,
    ...overrides,
  };
}

/** @internal A valid thumbnail of `of`. */
export function thumb(of: MediaRecord, overrides: Partial<ThumbnailRecord> = {}): ThumbnailRecord {
  return {
    origin: of.origin,
    mediaId: of.mediaId,
    width: 96,
    height: 96,
    method: "crop",
    animated: false,
    contentType: "image/webp",
    size: 321,
    sha256: sha(randomBytes(8).toString("hex")),
    datastoreId: "fs",
    location: `thumb/${randomBytes(6).toString("hex")}`,
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** @internal Asserts `promise` rejects with a `MediaError` of `errcode`. */
export async function rejectsWith(promise: Promise<unknown>, errcode: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(MediaError.is(err), `expected a MediaError ${errcode}, got ${String(err)}`);
    assert.equal(err.errcode, errcode);
    return true;
  });
}

/** @internal `origin/mediaId`. */
export const key = (m: { origin: string; mediaId: string }): string => `${m.origin}/${m.mediaId}`;
/** @internal Sorted `origin/mediaId` keys, to compare sets of records. */
export const keys = (list: ReadonlyArray<{ origin: string; mediaId: string }>): string[] =>
  list.map(key).sort();

/** What each case of `describeMetadataStore` gets: a fresh, migrated store, and its peer. */
export interface MetadataCaseContext {
  /** A fresh, empty store, already migrated. */
  store: MetadataStore;
  /** A second store on the same data (or `store` itself); concurrency cases race the two. */
  peer: MetadataStore;
}

/** @internal The cases of one group, by name. */
export type MetadataCases<Name extends string> = Record<
  Name,
  (context: MetadataCaseContext) => Promise<void>
>;

/** @internal Asserts `promise` rejects with `M_INVALID_PARAM` and a message naming `field`. */
export async function rejectsNaming(promise: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(MediaError.is(err), `expected a MediaError for ${field}, got ${String(err)}`);
    assert.equal(err.errcode, "M_INVALID_PARAM", field);
    assert.ok(err.message.includes(field), `"${err.message}" should name ${field}`);
    return true;
  });
}
