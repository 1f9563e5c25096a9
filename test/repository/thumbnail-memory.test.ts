// Thumbnail memory under a burst: a source is read only once the thumbnailer admits a job,
// one read serves every size being made of it, and the bytes of sources in memory are
// bounded (refusals are 503 M_LIMIT_EXCEEDED with a retry time).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import sharp from "sharp";
import { fsDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { ConfigError, MediaError } from "../../src/errors.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore } from "../../src/metadata/memory.js";
import {
  createMediaRepository,
  type MediaRepositoryOptions,
  type ThumbnailerLike,
} from "../../src/repository/index.js";
import { createThumbnailer, type ThumbnailerOptions } from "../../src/thumbnail/index.js";
import { tempDir } from "../harness/tmp.js";

const ORIGIN = "example.org";
const ALICE = "@alice:example.org";

/** A datastore that counts reads by key and can hold a key's reads until `open(key)`. */
function countingDatastore(store: Datastore) {
  const reads = new Map<string, number>();
  const gates = new Map<string, { wait: Promise<void>; open: () => void }>();
  const datastore: Datastore = {
    ...store,
    async get(key, options) {
      reads.set(key, (reads.get(key) ?? 0) + 1);
      await gates.get(key)?.wait;
      return store.get(key, options);
    },
  };
  return {
    datastore,
    reads: (key: string) => reads.get(key) ?? 0,
    hold(key: string) {
      let open!: () => void;
      const wait = new Promise<void>((resolve) => (open = resolve));
      gates.set(key, { wait, open });
    },
    open: (key: string) => gates.get(key)?.open(),
  };
}

/**
 * Media uploaded without a thumbnailer (so nothing is pre-generated), served by a second
 * repository over the same stores with `options`.
 */
async function setup(options: Partial<MediaRepositoryOptions> = {}) {
  const dir = await tempDir("mmk-thumbmem-");
  const counting = countingDatastore(fsDatastore({ root: path.join(dir.path, "m"), fsync: false }));
  const metadata = memoryMetadataStore();
  const base = {
    serverName: ORIGIN,
    ids: createMediaIdGenerator({ machineId: 4 }),
    datastore: counting.datastore,
    metadata,
  };
  const uploader = createMediaRepository(base);
  const repo = createMediaRepository({ ...base, ...options });
  after(async () => {
    await uploader.close();
    await repo.close();
    await dir.cleanup();
  });
  const upload = async (bytes: Buffer) =>
    (await uploader.upload(bytes, { uploader: ALICE, contentType: "image/jpeg" })).record;
  return { repo, upload, metadata, ...counting };
}

const jpeg = (width: number, height: number, background: string) =>
  sharp({ create: { width, height, channels: 3, background } })
    .jpeg()
    .toBuffer();

describe("thumbnail sources: admit, then load; one load per source; a memory budget", () => {
  it("reads the source once for concurrent requests of different sizes", async () => {
    const { repo, upload, reads } = await setup({
      thumbnailer: createThumbnailer({ concurrency: 1, maxQueue: 10 }),
    });
    const record = await upload(await jpeg(1200, 900, "#48c"));
    const sizes = [
      { width: 32, height: 32, method: "crop" },
      { width: 96, height: 96, method: "crop" },
      { width: 320, height: 240, method: "scale" },
      { width: 640, height: 480, method: "scale" },
      { width: 800, height: 600, method: "scale" },
    ] as const;
    // With one slot the five sizes run one after the other: the queued ones keep the first
    // read alive instead of reading again.
    const thumbs = await Promise.all(sizes.map((s) => repo.thumbnail(ORIGIN, record.mediaId, s)));
    assert.deepEqual(
      thumbs.map((t) => `${t.width}x${t.height}`),
      ["32x32", "96x96", "320x240", "640x480", "800x600"],
    );
    assert.equal(reads(record.location), 1, "one read of the source for five sizes");
  });

  it("does not read the source of a job the thumbnailer's queue refuses", async () => {
    const thumbnailer = createThumbnailer({ concurrency: 1, maxQueue: 0 });
    const { repo, upload, reads } = await setup({ thumbnailer });
    const record = await upload(await jpeg(400, 300, "#c84"));
    // A job whose loader waits holds the only slot.
    let letGo!: () => void;
    const busy = thumbnailer.generate(
      async () => {
        await new Promise<void>((resolve) => (letGo = resolve));
        return jpeg(64, 48, "#000");
      },
      { width: 32, height: 32, method: "crop" },
    );
    const error = await repo
      .thumbnail(ORIGIN, record.mediaId, { width: 96, height: 96, method: "crop" })
      .catch((e: unknown) => e);
    assert.ok(MediaError.is(error));
    assert.equal(error.status, 503);
    assert.equal(error.errcode, "M_LIMIT_EXCEEDED");
    assert.ok((error.retryAfterMs ?? 0) > 0);
    assert.equal(reads(record.location), 0, "a refused job reads nothing");
    letGo();
    await busy;
    await repo.thumbnail(ORIGIN, record.mediaId, { width: 96, height: 96, method: "crop" });
    assert.equal(reads(record.location), 1);
  });

  it("refuses a load past maxThumbnailSourceMemoryBytes with 503 and a retry time, unread", async () => {
    const first = await jpeg(1000, 800, "#f00");
    const second = await jpeg(1000, 800, "#0f0");
    const budget = Math.max(first.length, second.length) + 100;
    const stores = await setup({
      thumbnailer: createThumbnailer({ concurrency: 4 }),
      limits: { maxThumbnailSourceBytes: budget, maxThumbnailSourceMemoryBytes: budget },
    });
    const { repo, upload, reads } = stores;
    const a = await upload(first);
    const b = await upload(second);
    stores.hold(a.location); // the first source stays "being read", holding the budget
    const pending = repo.thumbnail(ORIGIN, a.mediaId, { width: 96, height: 96, method: "crop" });
    while (reads(a.location) === 0) await new Promise((r) => setImmediate(r));
    // Another size of the same source shares its read and needs no budget of its own.
    const sameSource = repo.thumbnail(ORIGIN, a.mediaId, { width: 32, height: 32, method: "crop" });
    await assert.rejects(
      repo.thumbnail(ORIGIN, b.mediaId, { width: 96, height: 96, method: "crop" }),
      (e: unknown) => {
        assert.ok(MediaError.is(e));
        assert.equal(e.status, 503);
        assert.equal(e.errcode, "M_LIMIT_EXCEEDED");
        assert.ok((e.retryAfterMs ?? 0) > 0);
        assert.match(e.message, /maxThumbnailSourceMemoryBytes/);
        return true;
      },
    );
    assert.equal(reads(b.location), 0, "the refused source was not read");
    stores.open(a.location);
    assert.equal((await pending).width, 96);
    assert.equal((await sameSource).width, 32);
    assert.equal(reads(a.location), 1);
    // Released with its last user: the other source fits now.
    assert.equal(
      (await repo.thumbnail(ORIGIN, b.mediaId, { width: 96, height: 96, method: "crop" })).width,
      96,
    );
  });

  it("a thumbnailer without source loaders still shares one read within the budget", async () => {
    const real = createThumbnailer({ concurrency: 4 });
    const thumbnailer: ThumbnailerLike = {
      generate: (source, request) => real.generate(source, request),
      pickSize: (request, source) => real.pickSize(request, source),
      sizes: real.sizes,
    };
    const { repo, upload, reads } = await setup({ thumbnailer });
    const record = await upload(await jpeg(1200, 900, "#8c4"));
    await Promise.all(
      [32, 96].map((side) =>
        repo.thumbnail(ORIGIN, record.mediaId, { width: side, height: side, method: "crop" }),
      ),
    );
    assert.equal(reads(record.location), 1);
  });

  it("limits.maxThumbnailSourceMemoryBytes is validated (ConfigError naming it)", () => {
    const base = {
      serverName: ORIGIN,
      ids: createMediaIdGenerator({ machineId: 4 }),
      datastore: fsDatastore({ root: "/nonexistent", fsync: false }),
      metadata: memoryMetadataStore(),
    };
    for (const value of [0, -1, 1.5, "256MiB", 1024]) {
      assert.throws(
        () =>
          createMediaRepository({
            ...base,
            limits: { maxThumbnailSourceMemoryBytes: value as number },
          }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.option === "limits.maxThumbnailSourceMemoryBytes" &&
          e.message.includes(JSON.stringify(value)),
      );
    }
    const repo = createMediaRepository({
      ...base,
      limits: { maxThumbnailSourceBytes: 1024, maxThumbnailSourceMemoryBytes: 1024 },
    });
    assert.equal(repo.limits.maxThumbnailSourceMemoryBytes, 1024);
    assert.equal(
      createMediaRepository(base).limits.maxThumbnailSourceMemoryBytes,
      256 * 1024 * 1024,
    );
  });
});

// ---------------------------------------------------------------- the burst, in a child
const execFileAsync = promisify(execFile);
const BURST = 150;
/**
 * Peak RSS growth allowed during the burst. Before sources were read after admission and
 * shared, this burst grew RSS by about 2.5 GB (150 reads of the 13.7 MB JPEG, 116 of them for
 * jobs then refused); now it is about 40 MB (one read, a few shrink-on-load decodes).
 */
const MAX_GROWTH_MB = 400;

interface BurstOutput {
  peakGrowthMb: number;
  outcomes: Array<{ ok: boolean; status?: number; errcode?: string; retryAfterMs?: number }>;
  stored: number;
  sourceReads: number;
}

describe("a burst of 150 thumbnail requests of distinct sizes for one 24 MP JPEG", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let file: string;

  before(async () => {
    dir = await tempDir("mmk-burst-");
    file = path.join(dir.path, "noise.jpg");
    // Noise does not compress: about 13 MB, like a large camera file.
    const raw = randomBytes(6000 * 4000 * 3);
    await writeFile(
      file,
      await sharp(raw, { raw: { width: 6000, height: 4000, channels: 3 } })
        .jpeg({ quality: 75 })
        .toBuffer(),
    );
  });
  after(() => dir.cleanup());

  async function burst(
    name: string,
    thumbnailer: ThumbnailerOptions,
    limits: Record<string, number> = {},
  ): Promise<BurstOutput> {
    const child = path.join(import.meta.dirname, "fixtures", "thumbnail-burst.ts");
    const input = { file, root: path.join(dir.path, name), requests: BURST, thumbnailer, limits };
    const { stdout } = await execFileAsync(
      process.execPath,
      ["--expose-gc", "--import", "tsx", child],
      { env: { ...process.env, THUMBNAIL_BURST: JSON.stringify(input) }, maxBuffer: 1 << 24 },
    );
    return JSON.parse(stdout.trim().split("\n").at(-1)!) as BurstOutput;
  }

  function checkOutcomes(out: BurstOutput): void {
    assert.equal(out.outcomes.length, BURST);
    for (const o of out.outcomes) {
      if (o.ok) continue;
      assert.ok(o.status === 503 || o.status === 429, `refused with ${o.status} ${o.errcode}`);
      assert.equal(o.errcode, "M_LIMIT_EXCEEDED");
      assert.ok((o.retryAfterMs ?? 0) > 0, "a refusal carries a retry time");
    }
    assert.ok(
      out.peakGrowthMb < MAX_GROWTH_MB,
      `peak RSS growth ${out.peakGrowthMb.toFixed(0)} MB < ${MAX_GROWTH_MB} MB`,
    );
  }

  it("default thumbnailer: snapped to the configured sizes, one read, bounded RSS", async () => {
    const out = await burst("defaults", {});
    checkOutcomes(out);
    assert.ok(
      out.outcomes.every((o) => o.ok),
      "every request is served",
    );
    assert.ok(out.stored <= 3, `${out.stored} stored: the configured scale sizes at most`);
    assert.equal(out.sourceReads, 1);
  });

  it("dynamic sizes (worst case: 150 distinct generations): bounded RSS, refusals with a retry time", async () => {
    const out = await burst(
      "dynamic",
      { dynamic: { maxWidth: 4000, maxHeight: 3000 }, maxQueue: 8 },
      { maxDynamicThumbnailsPerMedia: 1000 },
    );
    checkOutcomes(out);
    assert.ok(out.outcomes.some((o) => o.ok));
    assert.ok(
      out.outcomes.some((o) => !o.ok),
      "the queue refuses past concurrency + maxQueue",
    );
  });
});
