// The S3 driver (AWS S3, Garage, MinIO, R2, Ceph...), on @aws-sdk/client-s3 + lib-storage:
// validates the options, builds the shared context, and wires the operations to it.
import type { S3Client } from "@aws-sdk/client-s3";
import type { Datastore, DatastoreEntry } from "../types.js";
import { observeOp } from "../internal.js";
import { createS3Context } from "./context.js";
import { s3Get } from "./get.js";
import { s3List, s3Sweep } from "./list.js";
import { s3Delete, s3Head } from "./objects.js";
import { resolveS3Options, type S3DatastoreOptions } from "./options.js";
import { s3Put } from "./put.js";
import { s3Url } from "./url.js";

/** An S3 {@link Datastore} with its maintenance hooks. */
export interface S3Datastore extends Datastore {
  /** The client in use (e.g. for lifecycle rules). */
  readonly client: S3Client;
  /** The bucket. */
  readonly bucket: string;
  /** The key prefix of every object. */
  readonly prefix: string;
  /** Every blob under the prefix (temporary objects excluded). */
  list(options?: { signal?: AbortSignal }): AsyncIterable<DatastoreEntry>;
  /**
   * Removes temporary objects and aborts multipart uploads under `prefix + ".tmp/"` older
   * than `olderThanMs` (left by crashed processes). Resolves to how many were removed.
   */
  sweep(options?: { olderThanMs?: number }): Promise<number>;
}

/**
 * A datastore in an S3 bucket.
 *
 * Content addressing: blobs up to `partSize` are buffered (bounded memory), hashed, and
 * written with one PutObject straight to `prefix + sha256` (skipped when an object of the
 * same size already exists there: a second put of the same bytes is a HEAD). Larger blobs
 * stream as a multipart upload to `prefix + ".tmp/<uuid>"` (memory ≈ partSize × (queueSize
 * + 1)), then are copied server-side to `prefix + sha256` and the temporary object is
 * deleted. Any failure or abort aborts the multipart upload, so nothing is left behind.
 * Blobs are limited to 5 GiB (the CopyObject limit): larger puts fail with `M_TOO_LARGE`
 * while streaming.
 *
 * Ranged reads check the server's `Content-Range` and length and fail loudly (502) when a
 * server ignores or mangles the range.
 *
 * Invalid options throw a `ConfigError` naming the option.
 *
 * @example
 * ```ts
 * import { s3Datastore } from "matrix-media-kit/datastore";
 * const store = s3Datastore({
 *   bucket: "media",
 *   endpoint: "http://garage:3900",
 *   forcePathStyle: true,
 *   region: "garage",
 *   credentials: { accessKeyId: "GK...", secretAccessKey: "..." },
 *   presign: { expiresIn: 600 },
 * });
 * const { key } = await store.put(Buffer.from("hello"));
 * const url = await store.url?.(key); // presigned GET, valid 10 minutes
 * ```
 */
export function s3Datastore(options: S3DatastoreOptions): S3Datastore {
  const ctx = createS3Context(options, resolveS3Options(options));
  const hasUrl = Boolean(ctx.publicBaseUrl || ctx.presign);
  const store: S3Datastore = {
    id: ctx.id,
    client: ctx.client,
    bucket: ctx.bucket,
    prefix: ctx.prefix,
    capabilities: { list: true, url: hasUrl, readOnly: ctx.readOnly },
    put: (source, putOptions) =>
      observeOp(ctx.id, "put", () => s3Put(ctx, source, putOptions), true),
    get: (key, getOptions) => observeOp(ctx.id, "get", () => s3Get(ctx, key, getOptions)),
    head: (key) => observeOp(ctx.id, "head", () => s3Head(ctx, key)),
    delete: (key) => s3Delete(ctx, key),
    list: (listOptions) => s3List(ctx, listOptions),
    sweep: (sweepOptions) => s3Sweep(ctx, sweepOptions),
    dispose: async () => {
      ctx.urlCache.clear();
      ctx.recentWrites.clear();
      if (ctx.ownClient) ctx.client.destroy();
    },
  };
  if (hasUrl) store.url = (key, urlOptions) => s3Url(ctx, key, urlOptions);
  return store;
}
