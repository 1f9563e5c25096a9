// What every S3 operation shares: the client, the settings, and the per-process memory of
// recent writes (for eventually consistent stores) and presigned URLs.
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { datastoreChannel } from "../internal.js";
import {
  DEFAULT_S3_DATASTORE_OPTIONS,
  type S3DatastoreOptions,
  type S3Settings,
} from "./options.js";

/** @internal */
export interface S3Context extends S3Settings {
  readonly client: S3Client;
  /** True when the driver built the client and so destroys it on dispose. */
  readonly ownClient: boolean;
  /** Key → when this process wrote it, oldest first; bounded by the retry window and 10,000 keys. */
  readonly recentWrites: Map<string, number>;
  /** `${key}:${expiresIn}` → a presigned URL and when to sign a new one. */
  readonly urlCache: Map<string, { url: string; refreshAt: number }>;
}

/** The most keys remembered as recently written, whatever the window. */
const MAX_RECENT_WRITES = 10_000;

/** @internal */
export function createS3Context(options: S3DatastoreOptions, settings: S3Settings): S3Context {
  const client =
    options.client ??
    new S3Client({
      region: options.region ?? DEFAULT_S3_DATASTORE_OPTIONS.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      maxAttempts: settings.maxAttempts,
      retryMode: "standard",
      requestChecksumCalculation: settings.checksums,
      responseChecksumValidation: settings.checksums,
    });
  return {
    ...settings,
    client,
    ownClient: options.client === undefined,
    recentWrites: new Map(),
    urlCache: new Map(),
  };
}

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** @internal */
export function isNotFound(err: unknown): boolean {
  const name = (err as SdkError | undefined)?.name;
  return name === "NoSuchKey" || name === "NotFound" || statusOf(err) === 404;
}

/** @internal */
export function isInvalidRange(err: unknown): boolean {
  return (err as SdkError | undefined)?.name === "InvalidRange" || statusOf(err) === 416;
}

/** The size of the object at `objectKey` (a full object key, prefix included), if it exists. @internal */
export async function headObject(ctx: S3Context, objectKey: string): Promise<number | undefined> {
  try {
    const res = await ctx.client.send(
      new HeadObjectCommand({ Bucket: ctx.bucket, Key: objectKey }),
    );
    return res.ContentLength;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** @internal */
export function rememberWrite(ctx: S3Context, key: string): void {
  const t = ctx.now();
  ctx.recentWrites.delete(key);
  ctx.recentWrites.set(key, t);
  for (const [k, at] of ctx.recentWrites) {
    if (t - at <= ctx.notFoundRetry.windowMs && ctx.recentWrites.size <= MAX_RECENT_WRITES) break;
    ctx.recentWrites.delete(k);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn`, retrying a 404 for a key this process wrote within the retry window. @internal */
export async function withNotFoundRetry<T>(
  ctx: S3Context,
  key: string,
  fn: () => Promise<T>,
): Promise<T> {
  const { windowMs, attempts, delayMs } = ctx.notFoundRetry;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const at = ctx.recentWrites.get(key);
      if (
        !isNotFound(err) ||
        at === undefined ||
        ctx.now() - at > windowMs ||
        attempt >= attempts
      ) {
        throw err;
      }
      datastoreChannel.publish({ datastore: ctx.id, op: "retry-404", key, attempt });
      await sleep(delayMs * 2 ** attempt);
    }
  }
}
