// Content-addressed puts: one PutObject for blobs up to partSize, a multipart upload to a
// temporary key plus a server-side copy for larger ones.
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { assertPutOptions, finishPut, HashingSource, refuseReadOnly } from "../internal.js";
import type { DatastorePutOptions, DatastorePutResult } from "../types.js";
import { headObject, rememberWrite, type S3Context } from "./context.js";

/** The largest blob the S3 driver stores: the CopyObject limit. */
const MAX_OBJECT_BYTES = 5 * 1024 ** 3;

/** The source read so far: the first chunks (up to partSize) and whether that was all of it. */
interface BufferedHead {
  chunks: Uint8Array[];
  bytes: number;
  complete: boolean;
}

/** @internal */
export async function s3Put(
  ctx: S3Context,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  options: DatastorePutOptions = {},
): Promise<DatastorePutResult> {
  refuseReadOnly(ctx, "put");
  assertPutOptions(options);
  const started = performance.now();
  // CopyObject (used to finalise multipart uploads under the sha256 key) stops at 5 GiB.
  const limit = Math.min(options.maxBytes ?? MAX_OBJECT_BYTES, MAX_OBJECT_BYTES);
  const hashing = new HashingSource(source, limit, options.signal);
  const iterator = hashing[Symbol.asyncIterator]();
  const head = await bufferHead(iterator, ctx.partSize);
  const { sha256, deduplicated } = head.complete
    ? await putSmall(ctx, hashing, head, options)
    : await putMultipart(ctx, hashing, iterator, head, options);
  rememberWrite(ctx, sha256);
  return finishPut(ctx.id, hashing, sha256, started, deduplicated);
}

async function bufferHead(
  iterator: AsyncIterator<Uint8Array>,
  partSize: number,
): Promise<BufferedHead> {
  const head: BufferedHead = { chunks: [], bytes: 0, complete: false };
  try {
    while (head.bytes < partSize) {
      const next = await iterator.next();
      if (next.done) {
        head.complete = true;
        break;
      }
      head.chunks.push(next.value);
      head.bytes += next.value.byteLength;
    }
  } catch (err) {
    await iterator.return?.(undefined);
    throw err;
  }
  return head;
}

function objectParams(ctx: S3Context, contentType: string | undefined) {
  return {
    ...(contentType ? { ContentType: contentType } : {}),
    ...(ctx.storageClass ? { StorageClass: ctx.storageClass } : {}),
  };
}

/** The whole blob is buffered: write it straight to its final key (a HEAD when it is there). */
async function putSmall(
  ctx: S3Context,
  hashing: HashingSource,
  head: BufferedHead,
  options: DatastorePutOptions,
): Promise<{ sha256: string; deduplicated: boolean }> {
  const sha256 = hashing.digest();
  const objectKey = ctx.prefix + sha256;
  if ((await headObject(ctx, objectKey)) === head.bytes) return { sha256, deduplicated: true };
  const signal = options.signal;
  signal?.throwIfAborted();
  await ctx.client.send(
    new PutObjectCommand({
      Bucket: ctx.bucket,
      Key: objectKey,
      Body: Buffer.concat(head.chunks),
      ContentLength: head.bytes,
      ...objectParams(ctx, options.contentType),
    }),
    signal ? { abortSignal: signal } : {},
  );
  return { sha256, deduplicated: false };
}

/** Streams the blob to a temporary key, then copies it server-side to its final key. */
async function putMultipart(
  ctx: S3Context,
  hashing: HashingSource,
  iterator: AsyncIterator<Uint8Array>,
  head: BufferedHead,
  options: DatastorePutOptions,
): Promise<{ sha256: string; deduplicated: boolean }> {
  const tmpKey = `${ctx.prefix}.tmp/${randomUUID()}`;
  async function* body(): AsyncGenerator<Uint8Array> {
    yield* head.chunks.splice(0);
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const upload = new Upload({
    client: ctx.client,
    params: {
      Bucket: ctx.bucket,
      Key: tmpKey,
      Body: Readable.from(body(), { objectMode: false }),
      ...objectParams(ctx, options.contentType),
    },
    partSize: ctx.partSize,
    queueSize: ctx.queueSize,
    leavePartsOnError: false,
  });
  // A failing or aborted source makes lib-storage abort the multipart upload before
  // done() rejects (we do not pass our signal to Upload: its own abort path rejects
  // before the AbortMultipartUpload request has been sent).
  await upload.done();
  try {
    return await copyToFinalKey(ctx, hashing, tmpKey, options.signal);
  } finally {
    await ctx.client
      .send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: tmpKey }))
      .catch(() => undefined);
  }
}

async function copyToFinalKey(
  ctx: S3Context,
  hashing: HashingSource,
  tmpKey: string,
  signal: AbortSignal | undefined,
): Promise<{ sha256: string; deduplicated: boolean }> {
  const sha256 = hashing.digest();
  const objectKey = ctx.prefix + sha256;
  if ((await headObject(ctx, objectKey)) === hashing.size) return { sha256, deduplicated: true };
  signal?.throwIfAborted();
  await ctx.client.send(
    new CopyObjectCommand({
      Bucket: ctx.bucket,
      Key: objectKey,
      CopySource: `${ctx.bucket}/${tmpKey.split("/").map(encodeURIComponent).join("/")}`,
      ...(ctx.storageClass ? { StorageClass: ctx.storageClass } : {}),
    }),
  );
  return { sha256, deduplicated: false };
}
