// Listing blobs, and sweeping what crashed writers left under `.tmp/`.
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type _Object,
} from "@aws-sdk/client-s3";
import { KEY_PATTERN } from "../internal.js";
import type { DatastoreEntry } from "../types.js";
import type { S3Context } from "./context.js";

/** How old a temporary object must be before `sweep()` removes it, by default. */
const DEFAULT_SWEEP_OLDER_THAN_MS = 86_400_000;

/** Every object under `prefix`, page by page. */
async function* listObjects(
  ctx: S3Context,
  prefix: string,
  signal?: AbortSignal,
): AsyncGenerator<_Object> {
  let token: string | undefined;
  do {
    const res = await ctx.client.send(
      new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: prefix, ContinuationToken: token }),
      signal ? { abortSignal: signal } : {},
    );
    yield* res.Contents ?? [];
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
}

/** @internal */
export async function* s3List(
  ctx: S3Context,
  options: { signal?: AbortSignal } = {},
): AsyncIterable<DatastoreEntry> {
  for await (const obj of listObjects(ctx, ctx.prefix, options.signal)) {
    const key = obj.Key?.slice(ctx.prefix.length);
    if (key === undefined || !KEY_PATTERN.test(key)) continue;
    yield obj.LastModified
      ? { key, size: obj.Size ?? 0, lastModified: obj.LastModified }
      : { key, size: obj.Size ?? 0 };
  }
}

/** @internal */
export async function s3Sweep(
  ctx: S3Context,
  options: { olderThanMs?: number } = {},
): Promise<number> {
  const cutoff = ctx.now() - (options.olderThanMs ?? DEFAULT_SWEEP_OLDER_THAN_MS);
  const tmpPrefix = `${ctx.prefix}.tmp/`;
  let removed = 0;
  for await (const obj of listObjects(ctx, tmpPrefix)) {
    if (obj.Key && (obj.LastModified?.getTime() ?? 0) < cutoff) {
      await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: obj.Key }));
      removed++;
    }
  }
  const uploads = await ctx.client.send(
    new ListMultipartUploadsCommand({ Bucket: ctx.bucket, Prefix: tmpPrefix }),
  );
  for (const u of uploads.Uploads ?? []) {
    if (u.Key && u.UploadId && (u.Initiated?.getTime() ?? 0) < cutoff) {
      await ctx.client.send(
        new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: u.Key, UploadId: u.UploadId }),
      );
      removed++;
    }
  }
  return removed;
}
