// The repository's answers to clients that vary what they send to defeat a cache, and to admin
// calls on media that is not there.
import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fsDatastore } from "../../src/datastore/index.js";
import { MediaError } from "../../src/errors.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore } from "../../src/metadata/memory.js";
import { createMediaRepository, type PreviewFetcherLike } from "../../src/repository/index.js";
import { previewLanguage } from "../../src/repository/previews.js";
import { tempDir } from "../harness/tmp.js";

const HOUR = 60 * 60 * 1000;
const ALICE = "@alice:example.org";

async function setup(previews?: PreviewFetcherLike, now = () => 1_700_000_000_000) {
  const dir = await tempDir("mmk-harden-");
  const repo = createMediaRepository({
    serverName: "example.org",
    ids: createMediaIdGenerator({ machineId: 5 }),
    datastore: fsDatastore({ root: path.join(dir.path, "media"), fsync: false }),
    metadata: memoryMetadataStore(),
    ...(previews ? { previews } : {}),
    now,
  });
  after(async () => {
    await repo.close();
    await dir.cleanup();
  });
  return repo;
}

describe("preview cache keys", () => {
  it("reads the primary subtag of the first language, lower-cased", () => {
    const cases: Array<[string | undefined, string]> = [
      ["en-US,en;q=0.9", "en"],
      ["EN-gb", "en"],
      ["en;q=0.5, fr", "en"],
      [" fr-CA ", "fr"],
      ["*", ""],
      ["", ""],
      [undefined, ""],
      ["x".repeat(40), ""],
      ["zh-Hant-TW", "zh"],
    ];
    for (const [header, expected] of cases) assert.equal(previewLanguage(header), expected, header);
  });

  it("fetches a URL once per hour and primary language, whatever ts and Accept-Language say", async () => {
    const fetched: Array<{ ts: number | undefined; language: string | undefined }> = [];
    const previews: PreviewFetcherLike = {
      async preview(_url, options = {}) {
        fetched.push({ ts: options.ts, language: options.language });
        return { og: { "og:title": `fetch ${fetched.length}` } };
      },
    };
    const now = 1_700_000_000_000;
    const repo = await setup(previews, () => now);
    const url = "https://example.com/page";
    const variants: Array<[number | undefined, string | undefined]> = [
      [undefined, "en-US"],
      [now, "EN-gb,fr;q=0.9"],
      [now - 1, "en;q=0.5"],
      [now - 5 * HOUR, "en"],
      [now - 400 * HOUR, "en-AU"],
      [now + 10 * HOUR, "en-NZ"],
      [0, "en"],
    ];
    for (const [ts, language] of variants) {
      const og = await repo.preview(url, { ts, language, userId: ALICE });
      assert.equal(og["og:title"], "fetch 1", `ts=${ts} language=${language}`);
    }
    assert.deepEqual(fetched, [{ ts: now, language: "en" }]);
    await repo.preview(url, { language: "fr-FR", userId: ALICE });
    await repo.preview(url, { language: "FR", userId: ALICE });
    assert.equal(fetched.length, 2, "one more fetch for another language");
  });
});

describe("quarantine of a single mxc", () => {
  it("is M_NOT_FOUND when the media is not stored, local or remote", async () => {
    const repo = await setup();
    for (const origin of ["example.org", "remote.example"]) {
      for (const value of [true, false]) {
        await assert.rejects(
          repo.quarantine({ mxc: { origin, mediaId: "doesNotExist" } }, value),
          (error: unknown) => MediaError.is(error) && error.errcode === "M_NOT_FOUND",
        );
      }
    }
    const { record } = await repo.upload(Buffer.from("x"), { uploader: ALICE });
    const mxc = { origin: record.origin, mediaId: record.mediaId };
    assert.deepEqual(await repo.quarantine({ mxc }), { affected: 1 });
    assert.deepEqual(await repo.quarantine({ mxc }), { affected: 0 }, "already quarantined");
    assert.deepEqual(await repo.quarantine({ mxcs: [{ ...mxc, mediaId: "gone" }] }), {
      affected: 0,
    });
  });
});
