// The repository flows over real components: fs (and S3) datastores, the memory metadata
// store, memory and tiered caches, the sharp thumbnailer.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { memoryCache } from "../../src/cache/memory.js";
import { tieredCache } from "../../src/cache/tiered.js";
import { fsDatastore, s3Datastore, routeByKind } from "../../src/datastore/index.js";
import { ConfigError, MediaError } from "../../src/errors.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore } from "../../src/metadata/memory.js";
import type { MetadataStore } from "../../src/metadata/types.js";
import { createThumbnailer } from "../../src/thumbnail/index.js";
import {
  blobCacheKey,
  createMediaRepository,
  type MediaRepositoryOptions,
} from "../../src/repository/index.js";
import { createMediaHandler } from "../../src/http/index.js";
import { startS3 } from "../harness/s3.js";
import { tempDir } from "../harness/tmp.js";

const ALICE = "@alice:example.org";
const BOB = "@bob:example.org";

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

async function setup(extra: Partial<MediaRepositoryOptions> = {}) {
  const dir = await tempDir("mmk-repo-");
  const root = path.join(dir.path, "media");
  const datastore = fsDatastore({ root, fsync: false });
  const metadata = memoryMetadataStore();
  const cache = memoryCache({ maxBytes: 32 * 1024 * 1024 });
  const repo = createMediaRepository({
    serverName: "example.org",
    ids: createMediaIdGenerator({ machineId: 3 }),
    datastore,
    metadata,
    cache,
    ...extra,
  });
  after(async () => {
    await repo.close();
    await dir.cleanup();
  });
  return { repo, root, metadata, cache, datastore };
}

async function* chunks(...parts: Array<Buffer | Error>): AsyncIterable<Uint8Array> {
  for (const part of parts) {
    if (part instanceof Error) throw part;
    yield part;
    await new Promise((r) => setImmediate(r));
  }
}

async function readBody(body: {
  buffer?: Buffer;
  stream?: NodeJS.ReadableStream;
}): Promise<Buffer> {
  if (body.buffer) return body.buffer;
  const parts: Buffer[] = [];
  for await (const c of body.stream!) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe("createMediaRepository", () => {
  it("validates options precisely, naming the option", () => {
    const base = {
      serverName: "example.org",
      ids: createMediaIdGenerator({ machineId: 1 }),
      datastore: fsDatastore({ root: "/nonexistent-unused" }),
      metadata: memoryMetadataStore(),
    };
    const refused = (options: unknown, option: string): void =>
      assert.throws(
        () => createMediaRepository(options as never),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.option === option &&
          err.message.includes(`options.${option}`),
      );
    refused({ ...base, limits: { maxUploadBytes: -1 } }, "limits.maxUploadBytes");
    refused({ ...base, limits: { maxUploadBytes: 0 } }, "limits.maxUploadBytes");
    refused({ ...base, limits: { maxWaitMs: 1.5 } }, "limits.maxWaitMs");
    refused({ ...base, limits: { defaultWaitMs: 2, maxWaitMs: 1 } }, "limits.defaultWaitMs");
    refused({ ...base, limits: { nope: 1 } }, "limits.nope");
    refused({ ...base, serverName: "bad/name" }, "serverName");
    refused({ ...base, serverName: undefined, serverNames: [] }, "serverNames");
    refused(
      { ...base, serverName: undefined, serverNames: ["a.org", "bad/name"] },
      "serverNames[1]",
    );
    refused({ ...base, serverNames: ["a.org"] }, "serverNames");
    refused({ ...base, ids: {} }, "ids");
    refused({ ...base, datastore: null }, "datastore");
    refused({ ...base, metadata: {} }, "metadata");
    assert.throws(() => createMediaRepository({ ...base, serverName: "bad/name" }), /"bad\/name"/);
  });

  it("stores identical bytes once while each upload gets its own media ID and record", async () => {
    const { repo, root, metadata } = await setup();
    const bytes = Buffer.from("the same bytes twice");
    const a = await repo.upload(chunks(bytes.subarray(0, 5), bytes.subarray(5)), {
      contentType: "text/plain",
      uploader: ALICE,
    });
    const b = await repo.upload(bytes, {
      contentType: "text/plain",
      uploader: BOB,
      filename: "b.txt",
    });
    assert.notEqual(a.mxc, b.mxc);
    assert.equal(a.record.sha256, b.record.sha256);
    assert.equal(a.record.location, b.record.location);
    assert.equal((await files(root)).filter((f) => !f.includes(".tmp")).length, 1, "one blob");
    assert.equal((await metadata.getMediaBySha256(a.record.sha256)).length, 2);
    assert.equal(b.record.filename, "b.txt");

    // Deleting one keeps the shared blob; deleting the last removes it.
    assert.equal(await repo.delete("example.org", a.record.mediaId), true);
    const { record, body } = await repo.download("example.org", b.record.mediaId);
    assert.deepEqual(await readBody(body), bytes);
    assert.equal(record.uploader, BOB);
    assert.equal(await repo.delete("example.org", b.record.mediaId), true);
    assert.deepEqual(await files(root).then((l) => l.filter((f) => !f.includes(".tmp"))), []);
    await assert.rejects(repo.download("example.org", b.record.mediaId), {
      errcode: "M_NOT_FOUND",
    });
  });

  it("keeps a blob that a concurrent upload of the same bytes is about to reference", async () => {
    const metadata = memoryMetadataStore();
    let gate: (() => void) | undefined;
    let gated = false;
    const gatedMetadata: MetadataStore = Object.assign(Object.create(metadata) as MetadataStore, {
      insertMedia: async (record: Parameters<MetadataStore["insertMedia"]>[0]) => {
        if (gated) await new Promise<void>((r) => (gate = r));
        return metadata.insertMedia(record);
      },
    });
    const { repo, root } = await setup({ metadata: gatedMetadata });
    const bytes = Buffer.from("shared bytes");
    const a = await repo.upload(bytes, { uploader: ALICE });
    gated = true;
    const b = repo.upload(bytes, { uploader: BOB });
    while (!gate) await new Promise((r) => setTimeout(r, 5));
    gated = false;
    // B's blob is stored (the same key as A's) but its record is not written yet.
    assert.equal(await repo.delete("example.org", a.record.mediaId), true);
    assert.equal((await files(root)).filter((f) => !f.includes(".tmp")).length, 1, "blob kept");
    gate();
    const { record } = await b;
    const got = await repo.download("example.org", record.mediaId);
    assert.deepEqual(await readBody(got.body), bytes);
  });

  it("sniffs the type only when the uploader sent none", async () => {
    const { repo } = await setup();
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: "#fff" } })
      .png()
      .toBuffer();
    assert.equal((await repo.upload(png, { uploader: ALICE })).record.contentType, "image/png");
    assert.equal(
      (await repo.upload(png, { uploader: ALICE, contentType: "img/png" })).record.contentType,
      "img/png",
    );
    assert.equal(
      (await repo.upload(Buffer.from([1, 2, 3]), { uploader: ALICE })).record.contentType,
      "application/octet-stream",
    );
  });

  it("leaves no blob, record or temp file after a failed, aborted or oversized upload", async () => {
    const { repo, root, metadata } = await setup({ limits: { maxUploadBytes: 1000 } });
    const broken = new Error("source broke");
    await assert.rejects(
      repo.upload(chunks(Buffer.alloc(100), broken), { uploader: ALICE }),
      /source broke/,
    );
    const controller = new AbortController();
    const aborted = repo.upload(
      (async function* () {
        yield Buffer.alloc(100);
        controller.abort();
        await new Promise((r) => setTimeout(r, 20));
        yield Buffer.alloc(100);
      })(),
      { uploader: ALICE, signal: controller.signal },
    );
    await assert.rejects(aborted);
    await assert.rejects(
      repo.upload(chunks(Buffer.alloc(600), Buffer.alloc(401)), { uploader: ALICE }),
      {
        errcode: "M_TOO_LARGE",
        status: 413,
      },
    );
    await assert.rejects(repo.upload(Buffer.alloc(10), { uploader: ALICE, contentLength: 1001 }), {
      errcode: "M_TOO_LARGE",
    });
    // The metadata store refuses a NUL in the file name after the bytes were stored.
    await assert.rejects(
      repo.upload(Buffer.from("fine bytes"), { uploader: ALICE, filename: "a\u0000b" }),
    );
    assert.deepEqual(await files(root), []);
    assert.equal((await metadata.getUsage(ALICE)).count, 0);
  });

  it("async uploads: expiry, per-user limit, creator only, waiters woken, timeout capped", async () => {
    let clock = 1_000_000;
    const { repo } = await setup({
      now: () => clock,
      limits: { maxPendingPerUser: 2, defaultWaitMs: 50, maxWaitMs: 200 },
    });
    const first = await repo.createPending(ALICE);
    assert.equal(first.expiresAt, clock + 24 * 3600_000);
    await repo.createPending(ALICE);
    await assert.rejects(repo.createPending(ALICE), { errcode: "M_LIMIT_EXCEEDED" });
    const mediaId = first.mxc.split("/").pop()!;

    const started = performance.now();
    await assert.rejects(repo.lookup("example.org", mediaId, { timeoutMs: 60_000 }), {
      errcode: "M_NOT_YET_UPLOADED",
      status: 504,
    });
    const waited = performance.now() - started;
    assert.ok(waited >= 150 && waited < 5000, `timeout capped at maxWaitMs (waited ${waited} ms)`);

    await assert.rejects(
      repo.uploadPending("example.org", mediaId, Buffer.from("x"), { uploader: BOB }),
      {
        errcode: "M_FORBIDDEN",
      },
    );
    const waiter = repo.lookup("example.org", mediaId, { timeoutMs: 60_000 });
    await repo.uploadPending("example.org", mediaId, Buffer.from("done"), {
      uploader: ALICE,
      contentType: "text/plain",
    });
    assert.equal((await waiter).contentType, "text/plain");
    await assert.rejects(repo.checkPending("example.org", mediaId, ALICE), {
      errcode: "M_CANNOT_OVERWRITE_MEDIA",
    });

    // Past the expiry the reserved ID is gone.
    const late = await repo.createPending(ALICE);
    clock += 24 * 3600_000 + 1;
    await assert.rejects(repo.lookup("example.org", late.mxc.split("/").pop()!), {
      errcode: "M_NOT_FOUND",
    });
  });

  it("sweeps expired pending uploads and preview cache entries", async () => {
    let clock = 5_000_000;
    const { repo, metadata } = await setup({ now: () => clock, limits: { sweepIntervalMs: 0 } });
    const first = await repo.createPending(ALICE);
    const second = await repo.createPending(BOB);
    await metadata.putPreview({
      url: "https://a.example/",
      bucket: 0,
      language: "",
      json: "{}",
      expiresAt: clock + 1000,
    });
    await metadata.putPreview({
      url: "https://b.example/",
      bucket: 0,
      language: "",
      json: "{}",
      expiresAt: clock + 10 * 3600_000,
    });
    assert.deepEqual(await repo.sweepExpired(), { pending: 0, previews: 0 });
    clock += 24 * 3600_000 + 1; // both pending uploads and both previews have expired
    const fresh = await repo.createPending(ALICE);
    assert.deepEqual(await repo.sweepExpired(), { pending: 2, previews: 2 });
    const idOf = (mxc: string) => mxc.split("/").pop()!;
    assert.equal(await metadata.getPending("example.org", idOf(first.mxc)), undefined);
    assert.equal(await metadata.getPending("example.org", idOf(second.mxc)), undefined);
    assert.notEqual(await metadata.getPending("example.org", idOf(fresh.mxc)), undefined);
    assert.equal(await metadata.getPreview("https://a.example/", 0, ""), undefined);
  });

  it("records last-access times in batches, not one write per download", async () => {
    const metadata = memoryMetadataStore();
    let touchCalls = 0;
    let touched = 0;
    const counting: MetadataStore = Object.assign(Object.create(metadata) as MetadataStore, {
      touchMedia: async (accesses: Parameters<MetadataStore["touchMedia"]>[0]) => {
        touchCalls++;
        touched += accesses.length;
        return metadata.touchMedia(accesses);
      },
    });
    let clock = 5_000;
    const { repo } = await setup({
      metadata: counting,
      now: () => clock,
      limits: { touchIntervalMs: 0 },
    });
    const { record } = await repo.upload(Buffer.from("popular"), { uploader: ALICE });
    for (let i = 0; i < 20; i++) {
      clock += 10;
      await readBody((await repo.download("example.org", record.mediaId)).body);
    }
    assert.equal(touchCalls, 0, "no write per request");
    await repo.close();
    assert.equal(touchCalls, 1);
    assert.equal(touched, 1, "one entry per media item");
    assert.equal((await metadata.getMedia("example.org", record.mediaId))?.lastAccessAt, clock);
  });

  it("serves ranges from the cache and from the datastore", async () => {
    const { repo, cache } = await setup({ limits: { maxCachedBytes: 100 } });
    const small = await repo.upload(Buffer.from("0123456789"), { uploader: ALICE });
    const body = await repo.read(small.record, { range: { start: 2, end: 4 } });
    assert.equal(body.buffer?.toString(), "234");
    assert.deepEqual(body.range, { start: 2, end: 4 });
    assert.ok(await cache.get(blobCacheKey(small.record.sha256)), "small media is cached on read");
    const large = await repo.upload(Buffer.alloc(1000, 7), { uploader: ALICE });
    const streamed = await repo.read(large.record, { range: { start: 990 } });
    assert.ok(streamed.stream, "large media streams from the datastore");
    assert.equal((await readBody(streamed)).length, 10);
    assert.equal(await cache.get(blobCacheKey(large.record.sha256)), undefined);
  });

  it("quarantine (by media, sha256, uploader, list) empties every cache tier and wins over re-uploads", async () => {
    const l1 = memoryCache({ maxBytes: 1024 * 1024 });
    const l2 = memoryCache({ maxBytes: 1024 * 1024 });
    const cache = tieredCache([l1, l2]);
    const { repo } = await setup({ cache });
    const a = await repo.upload(Buffer.from("bad"), { uploader: BOB });
    const b = await repo.upload(Buffer.from("also bad"), { uploader: BOB });
    const c = await repo.upload(Buffer.from("fine"), { uploader: ALICE });
    for (const r of [a, b, c])
      await readBody((await repo.download("example.org", r.record.mediaId)).body);
    assert.ok(await l1.get(blobCacheKey(a.record.sha256)));
    assert.ok(await l2.get(blobCacheKey(a.record.sha256)));

    assert.deepEqual(await repo.quarantine({ uploader: BOB }), { affected: 2 });
    for (const r of [a, b]) {
      await assert.rejects(repo.download("example.org", r.record.mediaId), {
        errcode: "M_NOT_FOUND",
      });
      assert.equal(await l1.get(blobCacheKey(r.record.sha256)), undefined);
      assert.equal(await l2.get(blobCacheKey(r.record.sha256)), undefined);
    }
    await readBody((await repo.download("example.org", c.record.mediaId)).body);
    const again = await repo.upload(Buffer.from("bad"), { uploader: ALICE });
    assert.equal(again.record.quarantined, true);
    await assert.rejects(repo.download("example.org", again.record.mediaId), {
      errcode: "M_NOT_FOUND",
    });

    await repo.quarantine({ sha256: c.record.sha256 });
    await assert.rejects(repo.lookup("example.org", c.record.mediaId), { errcode: "M_NOT_FOUND" });
    await repo.quarantine({ mxcs: [{ origin: "example.org", mediaId: c.record.mediaId }] }, false);
    await repo.lookup("example.org", c.record.mediaId);
  });

  it("generates a missing thumbnail once for concurrent requests (single flight) and reuses it", async () => {
    const real = createThumbnailer();
    let generated = 0;
    const thumbnailer = {
      generate: async (...args: Parameters<typeof real.generate>) => {
        generated++;
        return real.generate(...args);
      },
      pickSize: real.pickSize.bind(real),
    };
    const { repo } = await setup({ thumbnailer });
    const png = await sharp({
      create: { width: 400, height: 300, channels: 3, background: "#08f" },
    })
      .png()
      .toBuffer();
    const { record } = await repo.upload(png, { uploader: ALICE, contentType: "image/png" });
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        repo.thumbnail("example.org", record.mediaId, { width: 64, height: 64, method: "crop" }),
      ),
    );
    assert.equal(generated, 1);
    for (const r of results) assert.ok(r.width >= 64 && r.height >= 64);
    await repo.thumbnail("example.org", record.mediaId, { width: 64, height: 64, method: "crop" });
    assert.equal(generated, 1, "stored thumbnail reused");
    const text = await repo.upload(Buffer.from("not an image"), {
      uploader: ALICE,
      contentType: "image/png",
    });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        repo.thumbnail("example.org", text.record.mediaId, { width: 32, height: 32 }),
        {
          errcode: "M_UNSUPPORTED",
        },
      );
    }
    assert.equal(generated, 2, "an unsupported source is tried once");
    await assert.rejects(repo.thumbnail("example.org", record.mediaId, { width: 0, height: 5 }), {
      errcode: "M_INVALID_PARAM",
    });
  });

  it("purges remote media not accessed since a given time", async () => {
    const { repo, metadata, datastore } = await setup();
    const put = await datastore.put(Buffer.from("remote bytes"));
    const base = {
      kind: "remote" as const,
      contentType: "text/plain",
      filename: null,
      size: put.size,
      sha256: put.sha256,
      datastoreId: datastore.id,
      location: put.key,
      uploader: null,
      createdAt: 1000,
      quarantined: false,
      protected: false,
    };
    await metadata.insertMedia({
      ...base,
      origin: "remote.example",
      mediaId: "old",
      lastAccessAt: 1000,
    });
    await metadata.insertMedia({
      ...base,
      origin: "remote.example",
      mediaId: "fresh",
      lastAccessAt: 9000,
    });
    assert.deepEqual(await repo.purgeRemote(5000), { deleted: 1 });
    await assert.rejects(repo.lookup("remote.example", "old"), { errcode: "M_NOT_FOUND" });
    const fresh = await repo.download("remote.example", "fresh");
    assert.equal((await readBody(fresh.body)).toString(), "remote bytes");
  });

  it("rejects invalid ids before touching storage", async () => {
    const { repo } = await setup();
    for (const [origin, id] of [
      ["example.org", "../x"],
      ["example.org/..", "abc"],
      ["example.org", "a\u0000b"],
    ] as const) {
      await assert.rejects(
        repo.lookup(origin, id),
        (e: unknown) => MediaError.is(e) && e.status === 400,
      );
    }
  });
});

describe("createMediaRepository with S3 (redirects)", () => {
  let s3: Awaited<ReturnType<typeof startS3>>;
  before(async () => {
    s3 = await startS3();
  });
  after(() => s3.close());

  it("returns the datastore URL when allowRedirect is set and the datastore has url()", async () => {
    const store = s3Datastore({
      id: "s3",
      ...s3.connection,
      presign: true,
    });
    const dir = await tempDir();
    after(() => dir.cleanup());
    const local = fsDatastore({ id: "disk", root: dir.path, fsync: false });
    const repo = createMediaRepository({
      serverName: "example.org",
      ids: createMediaIdGenerator({ machineId: 4 }),
      datastore: routeByKind({ local: store, thumbnail: local }),
      metadata: memoryMetadataStore(),
    });
    after(() => repo.close());
    const { record } = await repo.upload(Buffer.from("in s3"), {
      uploader: ALICE,
      contentType: "text/plain",
    });
    assert.equal(record.datastoreId, "s3");
    const redirected = await repo.download("example.org", record.mediaId, { allowRedirect: true });
    assert.ok(redirected.body.redirect?.startsWith(s3.endpoint), redirected.body.redirect);
    const res = await fetch(redirected.body.redirect!);
    assert.equal(await res.text(), "in s3");
    const direct = await repo.download("example.org", record.mediaId);
    assert.equal((await readBody(direct.body)).toString(), "in s3");

    // Over HTTP: allow_redirect=true answers 307 to the datastore, without it the bytes.
    const handle = createMediaHandler(repo, {
      authenticate: async () => ({ userId: ALICE }),
    });
    const server = http.createServer((req, res) => void handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    after(() => new Promise<void>((r) => server.close(() => r())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const path = `/_matrix/client/v1/media/download/example.org/${record.mediaId}`;
    const headers = { Authorization: "Bearer t" };
    const redirect = await fetch(`${base}${path}?allow_redirect=true`, {
      headers,
      redirect: "manual",
    });
    assert.equal(redirect.status, 307);
    assert.ok(redirect.headers.get("location")?.startsWith(s3.endpoint));
    const bytes = await fetch(`${base}${path}`, { headers });
    assert.equal(await bytes.text(), "in s3");
  });
});
