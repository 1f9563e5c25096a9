// Single-object maintenance: head and delete.
import { DeleteObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { assertKey, datastoreChannel, refuseReadOnly } from "../internal.js";
import { isNotFound, withNotFoundRetry, type S3Context } from "./context.js";

/** @internal */
export async function s3Head(ctx: S3Context, key: string): Promise<{ size: number } | undefined> {
  assertKey(key, ctx.id);
  try {
    const size = await withNotFoundRetry(ctx, key, async () => {
      const res = await ctx.client.send(
        new HeadObjectCommand({ Bucket: ctx.bucket, Key: ctx.prefix + key }),
      );
      return res.ContentLength ?? 0;
    });
    return { size };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** @internal */
export async function s3Delete(ctx: S3Context, key: string): Promise<void> {
  assertKey(key, ctx.id);
  refuseReadOnly(ctx, "delete");
  ctx.recentWrites.delete(key);
  await ctx.client
    .send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: ctx.prefix + key }))
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  for (const k of ctx.urlCache.keys()) if (k.startsWith(key)) ctx.urlCache.delete(k);
  datastoreChannel.publish({ datastore: ctx.id, op: "delete", key });
}
