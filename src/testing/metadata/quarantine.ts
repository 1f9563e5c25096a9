// Quarantine follows the bytes: every target form, protection, unquarantine.
import assert from "node:assert/strict";
import { newId, sha, media, keys, key, type MetadataCases } from "./fixtures.js";

/** Cases of the `quarantine` group of `describeMetadataStore`. */
export type MetadataQuarantineCase =
  | "quarantine by sha256 marks every record sharing it, local and remote"
  | "quarantine of one mxc propagates to every record with the same hash"
  | "quarantine skips protected media"
  | "quarantine by a list of mxc URIs (room quarantine)"
  | "quarantine by uploader marks their media and its twins"
  | "unquarantine clears the flag by hash and reports what changed";

/** @internal */
export const quarantineCases = {
  "quarantine by sha256 marks every record sharing it, local and remote": async ({ store }) => {
    const hash = sha(`q-${newId()}`);
    const local = media({ sha256: hash });
    const otherUser = media({ sha256: hash, uploader: "@bob:example.org" });
    const remote = media({
      sha256: hash,
      origin: "remote.example",
      kind: "remote",
      uploader: null,
    });
    const unrelated = media();
    for (const r of [local, otherUser, remote, unrelated]) await store.insertMedia(r);
    const result = await store.quarantine({ sha256: hash });
    assert.deepEqual(keys(result.affected), keys([local, otherUser, remote]));
    for (const a of result.affected) assert.equal(a.sha256, hash);
    for (const r of [local, otherUser, remote]) {
      assert.equal((await store.getMedia(r.origin, r.mediaId))!.quarantined, true, key(r));
    }
    assert.equal((await store.getMedia(unrelated.origin, unrelated.mediaId))!.quarantined, false);
    assert.deepEqual(
      await store.quarantine({ sha256: hash }),
      { affected: [] },
      "nothing changed twice",
    );
  },
  "quarantine of one mxc propagates to every record with the same hash": async ({ store }) => {
    const hash = sha(`q1-${newId()}`);
    const a = media({ sha256: hash });
    const b = media({ sha256: hash, origin: "remote.example", kind: "remote", uploader: null });
    for (const r of [a, b]) await store.insertMedia(r);
    const result = await store.quarantine({ mxc: { origin: b.origin, mediaId: b.mediaId } });
    assert.deepEqual(keys(result.affected), keys([a, b]));
    assert.equal((await store.getMedia(a.origin, a.mediaId))!.quarantined, true);
    assert.deepEqual(await store.quarantine({ mxc: { origin: "x.example", mediaId: "missing" } }), {
      affected: [],
    });
  },
  "quarantine skips protected media": async ({ store }) => {
    const hash = sha(`qp-${newId()}`);
    const prot = media({ sha256: hash });
    const plain = media({ sha256: hash, uploader: "@bob:example.org" });
    for (const r of [prot, plain]) await store.insertMedia(r);
    await store.setProtected(prot.origin, prot.mediaId, true);
    const result = await store.quarantine({
      mxc: { origin: prot.origin, mediaId: prot.mediaId },
    });
    assert.deepEqual(keys(result.affected), keys([plain]));
    assert.equal((await store.getMedia(prot.origin, prot.mediaId))!.quarantined, false);
    assert.equal((await store.getMedia(plain.origin, plain.mediaId))!.quarantined, true);
  },
  "quarantine by a list of mxc URIs (room quarantine)": async ({ store }) => {
    const shared = sha(`room-${newId()}`);
    const inRoom1 = media();
    const inRoom2 = media({
      origin: "remote.example",
      kind: "remote",
      uploader: null,
      sha256: shared,
    });
    const twin = media({ sha256: shared, uploader: "@carol:example.org" });
    const outside = media();
    for (const r of [inRoom1, inRoom2, twin, outside]) await store.insertMedia(r);
    const result = await store.quarantine({
      mxcs: [inRoom1, inRoom2, { origin: "gone.example", mediaId: "never-fetched" }].map((r) => ({
        origin: r.origin,
        mediaId: r.mediaId,
      })),
    });
    assert.deepEqual(keys(result.affected), keys([inRoom1, inRoom2, twin]));
    assert.equal((await store.getMedia(outside.origin, outside.mediaId))!.quarantined, false);
    assert.deepEqual(await store.quarantine({ mxcs: [] }), { affected: [] });
  },
  "quarantine by uploader marks their media and its twins": async ({ store }) => {
    const uploader = `@spammer-${newId()}:example.org`;
    const a = media({ uploader });
    const b = media({ uploader });
    const twin = media({
      sha256: a.sha256,
      origin: "remote.example",
      kind: "remote",
      uploader: null,
    });
    const bystander = media();
    for (const r of [a, b, twin, bystander]) await store.insertMedia(r);
    const result = await store.quarantine({ uploader });
    assert.deepEqual(keys(result.affected), keys([a, b, twin]));
    assert.equal((await store.getMedia(bystander.origin, bystander.mediaId))!.quarantined, false);
  },
  "unquarantine clears the flag by hash and reports what changed": async ({ store }) => {
    const hash = sha(`uq-${newId()}`);
    const a = media({ sha256: hash });
    const b = media({ sha256: hash, uploader: "@bob:example.org" });
    const c = media({
      sha256: hash,
      uploader: "@carol:example.org",
      quarantined: true,
      protected: true,
    });
    for (const r of [a, b, c]) await store.insertMedia(r);
    const set = await store.quarantine({ sha256: hash }, true);
    assert.deepEqual(keys(set.affected), keys([a, b]), "c was already quarantined");
    const cleared = await store.quarantine(
      { mxc: { origin: a.origin, mediaId: a.mediaId } },
      false,
    );
    assert.deepEqual(
      keys(cleared.affected),
      keys([a, b, c]),
      "clearing also applies to protected media",
    );
    for (const r of [a, b, c])
      assert.equal((await store.getMedia(r.origin, r.mediaId))!.quarantined, false);
  },
} satisfies MetadataCases<MetadataQuarantineCase>;
