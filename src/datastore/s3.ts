// The S3 driver (AWS S3, Garage, MinIO, R2, Ceph...), on @aws-sdk/client-s3 + lib-storage.
import { randomUUID } from "node:crypto";
import { addAbortSignal, Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type StorageClass,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { MediaError } from "../errors.js";
import {
  assertKey,
  assertPutOptions,
  assertRangeShape,
  datastoreChannel,
  HashingSource,
  KEY_PATTERN,
  notFound,
  rangeNotSatisfiable,
  validateId,
} from "./internal.js";
import type {
  ByteRange,
  Datastore,
  DatastoreEntry,
  DatastoreGetResult,
  DatastorePutOptions,
  DatastorePutResult,
} from "./types.js";

/** Options of {@link s3Datastore}. */
export interface S3DatastoreOptions {
  /** The bucket (must exist). */
  bucket: string;
  /** Prepended to every object key, e.g. `"media/"`. @defaultValue `""` */
  prefix?: string;
  /** The S3 endpoint for S3-compatible stores, e.g. `"http://garage:3900"`. @defaultValue AWS */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`): needed by most self-hosted stores. @defaultValue `false` */
  forcePathStyle?: boolean;
  /** The region to sign for (any string for most S3-compatible stores). @defaultValue `"us-east-1"` */
  region?: string;
  /** Static credentials. @defaultValue the SDK's default chain (env, profile, instance role) */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Storage class of new objects, e.g. `"STANDARD_IA"`. @defaultValue the bucket's default */
  storageClass?: string;
  /**
   * A public (CDN) base URL: `url(key)` returns `${publicBaseUrl}/${prefix}${key}` instead
   * of a presigned URL.
   */
  publicBaseUrl?: string;
  /**
   * Presigned GET URLs from `url()`. `true` or `{ expiresIn }` (seconds, default 3600).
   * URLs are cached until shortly before they expire. @defaultValue `false`
   */
  presign?: boolean | { expiresIn?: number };
  /** Recorded in metadata next to each key. @defaultValue `"s3"` */
  id?: string;
  /** Refuse `put`/`delete`; existing blobs stay readable. @defaultValue `false` */
  readOnly?: boolean;
  /** Multipart part size in bytes (>= 5 MiB). Memory per upload is about partSize × (queueSize + 1). @defaultValue 8 MiB */
  partSize?: number;
  /** Parts uploaded in parallel per put. @defaultValue 4 */
  queueSize?: number;
  /** Attempts per request, with the SDK's exponential backoff on 5xx, throttling and network errors. @defaultValue 4 */
  maxAttempts?: number;
  /**
   * When the SDK adds `x-amz-checksum-*` headers. `"WHEN_REQUIRED"` works on Garage, MinIO,
   * R2 and Ceph; the SDK's own default since 2025 (`"WHEN_SUPPORTED"`) breaks many of them.
   * @defaultValue `"WHEN_REQUIRED"`
   */
  checksums?: "WHEN_REQUIRED" | "WHEN_SUPPORTED";
  /**
   * A 404 for a key this process wrote less than `windowMs` ago is retried `attempts`
   * times (doubling `delayMs`), for eventually consistent S3-compatible stores.
   * @defaultValue `{ windowMs: 10_000, attempts: 4, delayMs: 50 }`
   */
  notFoundRetry?: { windowMs?: number; attempts?: number; delayMs?: number };
  /** An S3 client to use instead of building one (the connection options above are then ignored). */
  client?: S3Client;
  /** The clock used for the presigned URL cache and the 404 retry window. @defaultValue `Date.now` */
  now?: () => number;
}

/** Defaults of {@link S3DatastoreOptions}. */
export const DEFAULT_S3_DATASTORE_OPTIONS = {
  /** @defaultValue `""` */
  prefix: "",
  /** @defaultValue `"us-east-1"` */
  region: "us-east-1",
  /** @defaultValue `"s3"` */
  id: "s3",
  /** @defaultValue 8 MiB */
  partSize: 8 * 1024 * 1024,
  /** @defaultValue 4 */
  queueSize: 4,
  /** @defaultValue 4 */
  maxAttempts: 4,
  /** @defaultValue `"WHEN_REQUIRED"` */
  checksums: "WHEN_REQUIRED",
  /** @defaultValue 3600 seconds */
  presignExpiresIn: 3600,
  /** @defaultValue `{ windowMs: 10_000, attempts: 4, delayMs: 50 }` */
  notFoundRetry: { windowMs: 10_000, attempts: 4, delayMs: 50 },
} as const;

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

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as SdkError | undefined)?.name;
  return name === "NoSuchKey" || name === "NotFound" || statusOf(err) === 404;
}

function isInvalidRange(err: unknown): boolean {
  return (err as SdkError | undefined)?.name === "InvalidRange" || statusOf(err) === 416;
}

function positiveInt(value: unknown, option: string, min = 1): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(
      `Expected ${option} to be an integer >= ${min} but received ${String(value)}`,
    );
  }
  return value;
}

/** The largest blob the S3 driver stores: the CopyObject limit. */
const MAX_OBJECT_BYTES = 5 * 1024 ** 3;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
  if (typeof options?.bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,62}$/.test(options.bucket)) {
    throw new TypeError(
      `Expected bucket to be an S3 bucket name but received ${JSON.stringify(options?.bucket)}`,
    );
  }
  const bucket = options.bucket;
  const prefix = options.prefix ?? DEFAULT_S3_DATASTORE_OPTIONS.prefix;
  if (
    typeof prefix !== "string" ||
    prefix.startsWith("/") ||
    prefix.split("/").some((seg) => seg === "." || seg === "..") ||
    /[\\\0]/.test(prefix) ||
    (prefix !== "" && !prefix.endsWith("/"))
  ) {
    throw new TypeError(
      `Expected prefix to be "" or a relative path ending with "/" (no "..", "\\" or NUL) but received ${JSON.stringify(prefix)}`,
    );
  }
  const id = validateId(options.id ?? DEFAULT_S3_DATASTORE_OPTIONS.id);
  const readOnly = options.readOnly ?? false;
  const partSize = positiveInt(
    options.partSize ?? DEFAULT_S3_DATASTORE_OPTIONS.partSize,
    "partSize",
    5 * 1024 * 1024,
  );
  const queueSize = positiveInt(
    options.queueSize ?? DEFAULT_S3_DATASTORE_OPTIONS.queueSize,
    "queueSize",
  );
  const maxAttempts = positiveInt(
    options.maxAttempts ?? DEFAULT_S3_DATASTORE_OPTIONS.maxAttempts,
    "maxAttempts",
  );
  const checksums = options.checksums ?? DEFAULT_S3_DATASTORE_OPTIONS.checksums;
  if (checksums !== "WHEN_REQUIRED" && checksums !== "WHEN_SUPPORTED") {
    throw new TypeError(
      `Expected checksums to be "WHEN_REQUIRED" or "WHEN_SUPPORTED" but received ${JSON.stringify(checksums)}`,
    );
  }
  const nf = { ...DEFAULT_S3_DATASTORE_OPTIONS.notFoundRetry, ...options.notFoundRetry };
  positiveInt(nf.windowMs, "notFoundRetry.windowMs", 0);
  positiveInt(nf.attempts, "notFoundRetry.attempts", 0);
  positiveInt(nf.delayMs, "notFoundRetry.delayMs", 0);
  let publicBaseUrl: string | undefined;
  if (options.publicBaseUrl !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(options.publicBaseUrl);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
      throw new TypeError(
        `Expected publicBaseUrl to be an http(s) URL but received ${JSON.stringify(options.publicBaseUrl)}`,
      );
    }
    publicBaseUrl = options.publicBaseUrl.replace(/\/+$/, "");
  }
  const presign = options.presign ?? false;
  const presignExpiresIn =
    typeof presign === "object"
      ? positiveInt(
          presign.expiresIn ?? DEFAULT_S3_DATASTORE_OPTIONS.presignExpiresIn,
          "presign.expiresIn",
        )
      : DEFAULT_S3_DATASTORE_OPTIONS.presignExpiresIn;
  if (presignExpiresIn > 604_800) {
    throw new TypeError(
      `Expected presign.expiresIn to be at most 604800 seconds (7 days) but received ${presignExpiresIn}`,
    );
  }
  const storageClass = options.storageClass as StorageClass | undefined;
  const now = options.now ?? Date.now;
  const ownClient = options.client === undefined;
  const client =
    options.client ??
    new S3Client({
      region: options.region ?? DEFAULT_S3_DATASTORE_OPTIONS.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      maxAttempts,
      retryMode: "standard",
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
    });

  const recentWrites = new Map<string, number>();
  const urlCache = new Map<string, { url: string; refreshAt: number }>();

  function rememberWrite(key: string): void {
    const t = now();
    recentWrites.delete(key);
    recentWrites.set(key, t);
    for (const [k, at] of recentWrites) {
      if (t - at <= nf.windowMs && recentWrites.size <= 10_000) break;
      recentWrites.delete(k);
    }
  }

  async function withNotFoundRetry<T>(key: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const at = recentWrites.get(key);
        if (
          !isNotFound(err) ||
          at === undefined ||
          now() - at > nf.windowMs ||
          attempt >= nf.attempts
        ) {
          throw err;
        }
        datastoreChannel.publish({ datastore: id, op: "retry-404", key, attempt });
        await sleep(nf.delayMs * 2 ** attempt);
      }
    }
  }

  function refuseReadOnly(op: string): void {
    if (readOnly)
      throw new MediaError(
        "M_FORBIDDEN",
        `Datastore "${id}" is read-only: ${op} refused (readOnly)`,
      );
  }

  async function headRaw(objectKey: string): Promise<number | undefined> {
    try {
      const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey }));
      return res.ContentLength;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async function put(
    source: AsyncIterable<Uint8Array> | Uint8Array,
    putOptions: DatastorePutOptions = {},
  ): Promise<DatastorePutResult> {
    refuseReadOnly("put");
    assertPutOptions(putOptions);
    const started = performance.now();
    const signal = putOptions.signal;
    // CopyObject (used to finalise multipart uploads under the sha256 key) stops at 5 GiB.
    const limit = Math.min(putOptions.maxBytes ?? MAX_OBJECT_BYTES, MAX_OBJECT_BYTES);
    const hashing = new HashingSource(source, limit, signal);
    const iterator = hashing[Symbol.asyncIterator]();
    const head: Uint8Array[] = [];
    let buffered = 0;
    let small = false;
    try {
      while (buffered < partSize) {
        const next = await iterator.next();
        if (next.done) {
          small = true;
          break;
        }
        head.push(next.value);
        buffered += next.value.byteLength;
      }
    } catch (err) {
      await iterator.return?.(undefined);
      throw err;
    }
    let deduplicated = false;
    let sha256: string;
    if (small) {
      sha256 = hashing.digest();
      const objectKey = prefix + sha256;
      if ((await headRaw(objectKey)) === buffered) {
        deduplicated = true;
      } else {
        signal?.throwIfAborted();
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: objectKey,
            Body: Buffer.concat(head),
            ContentLength: buffered,
            ...(putOptions.contentType ? { ContentType: putOptions.contentType } : {}),
            ...(storageClass ? { StorageClass: storageClass } : {}),
          }),
          signal ? { abortSignal: signal } : {},
        );
      }
    } else {
      const tmpKey = `${prefix}.tmp/${randomUUID()}`;
      async function* body(): AsyncGenerator<Uint8Array> {
        yield* head.splice(0);
        for (;;) {
          const next = await iterator.next();
          if (next.done) return;
          yield next.value;
        }
      }
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: tmpKey,
          Body: Readable.from(body(), { objectMode: false }),
          ...(putOptions.contentType ? { ContentType: putOptions.contentType } : {}),
          ...(storageClass ? { StorageClass: storageClass } : {}),
        },
        partSize,
        queueSize,
        leavePartsOnError: false,
      });
      // A failing or aborted source makes lib-storage abort the multipart upload before
      // done() rejects (we do not pass our signal to Upload: its own abort path rejects
      // before the AbortMultipartUpload request has been sent).
      await upload.done();
      try {
        sha256 = hashing.digest();
        const objectKey = prefix + sha256;
        if ((await headRaw(objectKey)) === hashing.size) {
          deduplicated = true;
        } else {
          signal?.throwIfAborted();
          await client.send(
            new CopyObjectCommand({
              Bucket: bucket,
              Key: objectKey,
              CopySource: `${bucket}/${tmpKey.split("/").map(encodeURIComponent).join("/")}`,
              ...(storageClass ? { StorageClass: storageClass } : {}),
            }),
          );
        }
      } finally {
        await client
          .send(new DeleteObjectCommand({ Bucket: bucket, Key: tmpKey }))
          .catch(() => undefined);
      }
    }
    rememberWrite(sha256);
    datastoreChannel.publish({
      datastore: id,
      op: "put",
      key: sha256,
      size: hashing.size,
      durationMs: performance.now() - started,
      deduplicated,
    });
    return { key: sha256, size: hashing.size, sha256 };
  }

  async function get(
    key: string,
    getOptions: { range?: ByteRange; signal?: AbortSignal } = {},
  ): Promise<DatastoreGetResult> {
    assertKey(key, id);
    const range = getOptions.range;
    if (range) assertRangeShape(range);
    let res;
    try {
      res = await withNotFoundRetry(key, () =>
        client.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: prefix + key,
            ...(range ? { Range: `bytes=${range.start}-${range.end ?? ""}` } : {}),
          }),
          getOptions.signal ? { abortSignal: getOptions.signal } : {},
        ),
      );
    } catch (err) {
      if (isNotFound(err)) throw notFound(key, id, err);
      if (range && isInvalidRange(err)) {
        throw new MediaError(
          "M_INVALID_PARAM",
          `Range ${range.start}-${range.end ?? ""} is not satisfiable`,
          {
            status: 416,
            cause: err,
          },
        );
      }
      throw err;
    }
    const stream = res.Body as Readable | undefined;
    if (!stream)
      throw new MediaError("M_UNKNOWN", `S3 returned no body for ${key}`, { status: 502 });
    if (getOptions.signal) addAbortSignal(getOptions.signal, stream);
    if (!range) {
      if (res.ContentLength === undefined) {
        stream.destroy();
        throw new MediaError("M_UNKNOWN", `S3 returned no Content-Length for ${key}`, {
          status: 502,
        });
      }
      return { stream, size: res.ContentLength };
    }
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.ContentRange ?? "");
    const total = m ? Number(m[3]) : undefined;
    if (m && total !== undefined && range.start >= total) {
      stream.destroy();
      throw rangeNotSatisfiable(range, total);
    }
    const start = Number(m?.[1]);
    const end = Number(m?.[2]);
    const expectedEnd = total === undefined ? NaN : Math.min(range.end ?? total - 1, total - 1);
    if (
      !m ||
      start !== range.start ||
      end !== expectedEnd ||
      res.ContentLength !== end - start + 1
    ) {
      stream.destroy();
      throw new MediaError(
        "M_UNKNOWN",
        `S3 server answered the range ${range.start}-${range.end ?? ""} of ${key} with Content-Range ` +
          `${JSON.stringify(res.ContentRange ?? null)} and Content-Length ${String(res.ContentLength)}; refusing to serve it`,
        { status: 502 },
      );
    }
    return { stream, size: total!, range: { start, end } };
  }

  async function headKey(key: string): Promise<{ size: number } | undefined> {
    assertKey(key, id);
    try {
      const size = await withNotFoundRetry(key, async () => {
        const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: prefix + key }));
        return res.ContentLength ?? 0;
      });
      return { size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async function del(key: string): Promise<void> {
    assertKey(key, id);
    refuseReadOnly("delete");
    recentWrites.delete(key);
    await client
      .send(new DeleteObjectCommand({ Bucket: bucket, Key: prefix + key }))
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    for (const k of urlCache.keys()) if (k.startsWith(key)) urlCache.delete(k);
    datastoreChannel.publish({ datastore: id, op: "delete", key });
  }

  async function* list(listOptions: { signal?: AbortSignal } = {}): AsyncIterable<DatastoreEntry> {
    let token: string | undefined;
    do {
      const res = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        listOptions.signal ? { abortSignal: listOptions.signal } : {},
      );
      for (const obj of res.Contents ?? []) {
        const key = obj.Key?.slice(prefix.length);
        if (key === undefined || !KEY_PATTERN.test(key)) continue;
        yield obj.LastModified
          ? { key, size: obj.Size ?? 0, lastModified: obj.LastModified }
          : { key, size: obj.Size ?? 0 };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async function url(
    key: string,
    urlOptions: { expiresIn?: number } = {},
  ): Promise<string | undefined> {
    assertKey(key, id);
    if (publicBaseUrl)
      return `${publicBaseUrl}/${(prefix + key).split("/").map(encodeURIComponent).join("/")}`;
    if (!presign) return undefined;
    const expiresIn = positiveInt(urlOptions.expiresIn ?? presignExpiresIn, "expiresIn");
    const cacheKey = `${key}:${expiresIn}`;
    const t = now();
    const cached = urlCache.get(cacheKey);
    if (cached && t < cached.refreshAt) return cached.url;
    const signed = await getSignedUrl(
      client,
      new GetObjectCommand({ Bucket: bucket, Key: prefix + key }),
      {
        expiresIn,
      },
    );
    // Refresh when 10% of the lifetime (at most 5 minutes) is left.
    const margin = Math.min(expiresIn * 100, 300_000);
    urlCache.set(cacheKey, { url: signed, refreshAt: t + expiresIn * 1000 - margin });
    if (urlCache.size > 10_000) {
      for (const [k, v] of urlCache) if (v.refreshAt <= t) urlCache.delete(k);
    }
    return signed;
  }

  async function sweep(sweepOptions: { olderThanMs?: number } = {}): Promise<number> {
    const olderThan = sweepOptions.olderThanMs ?? 86_400_000;
    const cutoff = now() - olderThan;
    const tmpPrefix = `${prefix}.tmp/`;
    let removed = 0;
    let token: string | undefined;
    do {
      const res = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: tmpPrefix, ContinuationToken: token }),
      );
      for (const obj of res.Contents ?? []) {
        if (obj.Key && (obj.LastModified?.getTime() ?? 0) < cutoff) {
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: obj.Key }));
          removed++;
        }
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    const uploads = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: tmpPrefix }),
    );
    for (const u of uploads.Uploads ?? []) {
      if (u.Key && u.UploadId && (u.Initiated?.getTime() ?? 0) < cutoff) {
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
        );
        removed++;
      }
    }
    return removed;
  }

  const store: S3Datastore = {
    id,
    client,
    bucket,
    prefix,
    capabilities: { list: true, url: Boolean(publicBaseUrl || presign), readOnly },
    put,
    get,
    head: headKey,
    delete: del,
    list,
    sweep,
    dispose: async () => {
      urlCache.clear();
      recentWrites.clear();
      if (ownClient) client.destroy();
    },
  };
  if (publicBaseUrl || presign) store.url = url;
  return store;
}
