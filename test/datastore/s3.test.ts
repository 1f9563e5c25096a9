import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { s3Datastore, type S3DatastoreOptions } from "../../src/datastore/index.js";
import { ConfigError, MediaError } from "../../src/errors.js";
import { startS3, type S3Server } from "../harness/s3.js";

/** A ConfigError naming `option`. */
function configError(option: string) {
  return (err: unknown): boolean => {
    assert.ok(ConfigError.is(err), `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.option, option);
    return true;
  };
}

const MiB = 1024 * 1024;

function options(s3: S3Server, extra: Partial<S3DatastoreOptions> = {}): S3DatastoreOptions {
  return {
    ...s3.connection,
    ...extra,
  };
}

async function objectKeys(s3: S3Server): Promise<string[]> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.credentials,
    forcePathStyle: true,
  });
  const res = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  client.destroy();
  return (res.Contents ?? []).map((o) => o.Key!).sort();
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

const isCode = (errcode: string, status?: number) => (err: unknown) =>
  MediaError.is(err) && err.errcode === errcode && (status === undefined || err.status === status);

describe("s3Datastore", () => {
  let s3!: S3Server;
  before(async () => {
    s3 = await startS3();
  });
  after(() => s3.close());

  for (const how of ["abort signal", "failing source"] as const) {
    it(`aborts the multipart upload on ${how} (checked on the server)`, async () => {
      const store = s3Datastore(options(s3, { prefix: `abort-${how.replace(" ", "-")}/` }));
      const controller = new AbortController();
      let release!: () => void;
      const stall = new Promise<void>((r) => (release = r));
      let sent = 0;
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 20; i++) {
          yield Buffer.alloc(MiB, i);
          sent += MiB;
        }
        await stall;
        if (how === "failing source") throw new Error("uploader disconnected");
        yield Buffer.alloc(MiB);
      }
      const put = store.put(source(), { signal: controller.signal });
      put.catch(() => undefined);
      // Wait until the server holds an open multipart upload with parts.
      for (let i = 0; i < 200 && (await s3.openMultipartUploads()).length === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(
        (await s3.openMultipartUploads()).length,
        1,
        "a multipart upload is in progress",
      );
      assert.ok(sent >= 16 * MiB);
      const abortedBefore = s3.abortedUploads.length;
      if (how === "abort signal") controller.abort();
      else release();
      await assert.rejects(put, how === "failing source" ? /uploader disconnected/ : /abort/i);
      release();
      assert.deepEqual(
        await s3.openMultipartUploads(),
        [],
        "no multipart upload is left on the server",
      );
      assert.equal(
        s3.abortedUploads.length,
        abortedBefore + 1,
        "the server received AbortMultipartUpload",
      );
      assert.deepEqual(
        (await objectKeys(s3)).filter((k) => k.startsWith(store.prefix)),
        [],
        "no object, temporary or final, is left",
      );
      await store.dispose?.();
    });
  }

  it("refuses to serve a range the server did not honour (unpatched s3rver bytes=0-0)", async () => {
    const raw = await startS3({ fixRanges: false });
    try {
      const store = s3Datastore(options(raw));
      const { key } = await store.put(Buffer.from("0123456789"));
      await assert.rejects(store.get(key, { range: { start: 0, end: 0 } }), (err: unknown) => {
        assert.ok(MediaError.is(err));
        assert.equal(err.status, 502);
        assert.match(err.message, /Content-Range/);
        return true;
      });
      // Ranges the unpatched server does answer correctly still work.
      const ok = await store.get(key, { range: { start: 2, end: 4 } });
      assert.equal((await readAll(ok.stream)).toString(), "234");
      await store.dispose?.();
    } finally {
      await raw.close();
    }
  });

  it("works against a server that rejects x-amz-checksum-* headers", async () => {
    const strict = await startS3({ rejectChecksumHeaders: true });
    try {
      // Control: the SDK's own default (WHEN_SUPPORTED) is refused by this server.
      const sdkDefault = new S3Client({
        endpoint: strict.endpoint,
        region: strict.region,
        credentials: strict.credentials,
        forcePathStyle: true,
      });
      await assert.rejects(
        sdkDefault.send(new PutObjectCommand({ Bucket: strict.bucket, Key: "x", Body: "hello" })),
      );
      sdkDefault.destroy();
      assert.equal(strict.rejectedChecksumRequests, 1);

      const store = s3Datastore(options(strict));
      const small = await store.put(Buffer.from("hello garage"));
      const big = Buffer.alloc(12 * MiB, 3);
      const large = await store.put(
        (async function* () {
          for (let i = 0; i < 12; i++) yield big.subarray(i * MiB, (i + 1) * MiB);
        })(),
      );
      assert.equal((await readAll((await store.get(small.key)).stream)).toString(), "hello garage");
      const ranged = await store.get(large.key, { range: { start: 5, end: 9 } });
      assert.deepEqual(await readAll(ranged.stream), big.subarray(5, 10));
      assert.deepEqual(await store.head(large.key), { size: 12 * MiB });
      const listed = [];
      for await (const e of store.list()) listed.push(e.key);
      assert.deepEqual(listed.sort(), [small.key, large.key].sort());
      await store.delete(small.key);
      await store.delete(large.key);
      assert.equal(await store.head(small.key), undefined);
      assert.equal(strict.rejectedChecksumRequests, 1, "the driver sent no checksum header");
      await store.dispose?.();
    } finally {
      await strict.close();
    }
  });

  it("retries a 404 right after its own write, not otherwise", async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: s3.credentials,
      forcePathStyle: true,
    });
    let failNext = 0;
    let gets = 0;
    // Simulate an eventually consistent store: the first GETs after a write miss.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "GetObjectCommand") {
          gets++;
          if (failNext > 0) {
            failNext--;
            throw Object.assign(new Error("NoSuchKey"), {
              name: "NoSuchKey",
              $metadata: { httpStatusCode: 404 },
            });
          }
        }
        return next(args);
      },
      { step: "initialize", name: "eventualConsistency" },
    );
    const store = s3Datastore({
      bucket: s3.bucket,
      prefix: "eventual/",
      client,
      notFoundRetry: { delayMs: 1 },
    });
    const { key } = await store.put(Buffer.from("fresh"));
    failNext = 2;
    gets = 0;
    assert.equal((await readAll((await store.get(key)).stream)).toString(), "fresh");
    assert.equal(gets, 3, "two 404s were retried");

    const other = s3Datastore({ bucket: s3.bucket, prefix: "eventual/", client, id: "other" });
    failNext = 1;
    gets = 0;
    await assert.rejects(other.get(key), isCode("M_NOT_FOUND", 404));
    assert.equal(gets, 1, "a key not written by this process is not retried");
    await store.delete(key);
    client.destroy();
  });

  it("retries 5xx and throttling answers with backoff", async () => {
    const store = s3Datastore(options(s3, { prefix: "retry/" }));
    const before = s3.injectedFailures;
    s3.failNextRequests(2, 503);
    const { key } = await store.put(Buffer.from("despite SlowDown"));
    s3.failNextRequests(2, 500);
    assert.equal((await readAll((await store.get(key)).stream)).toString(), "despite SlowDown");
    assert.equal(s3.injectedFailures - before, 4, "the server failed four requests");
    s3.failNextRequests(10, 503);
    await assert.rejects(store.head(key), "gives up after maxAttempts");
    s3.failNextRequests(0);
    await store.delete(key);
    await store.dispose?.();
  });

  it("caches presigned URLs until shortly before they expire, and they work", async () => {
    let now = 1_000_000;
    const store = s3Datastore(
      options(s3, { prefix: "presign/", presign: { expiresIn: 600 }, now: () => now }),
    );
    assert.equal(store.capabilities.url, true);
    const { key } = await store.put(Buffer.from("signed"));
    const a = await store.url!(key);
    now += 500_000;
    const b = await store.url!(key);
    assert.equal(b, a, "reused while far from expiry");
    const res = await fetch(a!);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "signed");
    await new Promise((r) => setTimeout(r, 1100)); // the signature carries a second-resolution date
    now += 60_000; // 40 s before expiry: inside the refresh margin
    const c = await store.url!(key);
    assert.notEqual(c, a, "re-signed near expiry");
    await store.delete(key);
    await store.dispose?.();
  });

  it("builds public URLs from publicBaseUrl", async () => {
    const store = s3Datastore(
      options(s3, { prefix: "pub/", publicBaseUrl: "https://cdn.example.org/media/" }),
    );
    const key = "a".repeat(64);
    assert.equal(await store.url!(key), `https://cdn.example.org/media/pub/${key}`);
    await assert.rejects(store.url!("../etc/passwd"), isCode("M_INVALID_PARAM", 400));
    const plain = s3Datastore(options(s3));
    assert.equal(plain.capabilities.url, false);
    assert.equal("url" in plain, false);
  });

  it("sweeps temporary objects and multipart uploads left by a crashed process", async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: s3.credentials,
      forcePathStyle: true,
    });
    await client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: "sweep/.tmp/orphan", Body: "partial" }),
    );
    await client.send(
      new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: "sweep/.tmp/orphan-mpu" }),
    );
    await client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: "elsewhere/.tmp/keep", Body: "not ours" }),
    );
    const store = s3Datastore(options(s3, { prefix: "sweep/", now: () => Date.now() + 3_600_000 }));
    const { key } = await store.put(Buffer.from("a real blob"));
    assert.equal(
      await s3Datastore(options(s3, { prefix: "sweep/" })).sweep(),
      0,
      "nothing is a day old yet",
    );
    assert.equal(await store.sweep({ olderThanMs: 60_000 }), 2);
    assert.deepEqual(await s3.openMultipartUploads(), []);
    const left = await objectKeys(s3);
    assert.ok(left.includes(`sweep/${key}`), "blobs are kept");
    assert.ok(!left.includes("sweep/.tmp/orphan"));
    assert.ok(left.includes("elsewhere/.tmp/keep"), "other prefixes are untouched");
    await store.delete(key);
    client.destroy();
  });

  it("validates its options precisely", () => {
    assert.throws(() => s3Datastore({ bucket: "" }), /bucket/);
    assert.throws(() => s3Datastore({ bucket: "media", prefix: "../x/" }), /prefix/);
    assert.throws(() => s3Datastore({ bucket: "media", prefix: "media" }), /prefix/);
    assert.throws(() => s3Datastore({ bucket: "media", partSize: 1024 }), /partSize/);
    assert.throws(
      () => s3Datastore({ bucket: "media", presign: { expiresIn: 10 ** 7 } }),
      /presign\.expiresIn/,
    );
    assert.throws(
      () => s3Datastore({ bucket: "media", publicBaseUrl: "ftp://x" }),
      /publicBaseUrl/,
    );
    for (const [options, option] of [
      [{ bucket: "" }, "bucket"],
      [{ bucket: "media", prefix: "media" }, "prefix"],
      [{ bucket: "media", id: "no spaces" }, "id"],
      [{ bucket: "media", queueSize: 0 }, "queueSize"],
      [{ bucket: "media", checksums: "ALWAYS" }, "checksums"],
      [{ bucket: "media", notFoundRetry: { attempts: -1 } }, "notFoundRetry.attempts"],
      [{ bucket: "media", presign: { expiresIn: 10 ** 7 } }, "presign.expiresIn"],
      [{ bucket: "media", publicBaseUrl: "ftp://x" }, "publicBaseUrl"],
    ] as const) {
      assert.throws(() => s3Datastore(options as S3DatastoreOptions), configError(option));
    }
    assert.throws(
      () => s3Datastore({ bucket: "" }),
      /^ConfigError: s3Datastore: expected options\.bucket/,
    );
  });
});
