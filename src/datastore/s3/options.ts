// The options of the S3 driver, their defaults, and their validation into settings.
import type { S3Client, StorageClass } from "@aws-sdk/client-s3";
import { ConfigError } from "../../errors.js";
import { validateId } from "../internal.js";

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
  /** Multipart part size in bytes (at least 5 MiB). Memory per upload is about partSize × (queueSize + 1). @defaultValue 8 MiB */
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

/**
 * The validated options every part of the driver reads.
 * @internal
 */
export interface S3Settings {
  readonly id: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly readOnly: boolean;
  readonly partSize: number;
  readonly queueSize: number;
  readonly maxAttempts: number;
  readonly checksums: "WHEN_REQUIRED" | "WHEN_SUPPORTED";
  readonly notFoundRetry: { windowMs: number; attempts: number; delayMs: number };
  /** Without its trailing slashes. */
  readonly publicBaseUrl: string | undefined;
  readonly presign: boolean;
  readonly presignExpiresIn: number;
  readonly storageClass: StorageClass | undefined;
  readonly now: () => number;
}

/** The longest lifetime S3 accepts for a presigned URL (7 days). */
const MAX_PRESIGN_SECONDS = 604_800;

function isIntegerAtLeast(value: unknown, min: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= min;
}

function configInt(value: unknown, option: string, min = 1): number {
  if (!isIntegerAtLeast(value, min)) {
    throw new ConfigError(
      `s3Datastore: expected options.${option} to be an integer >= ${min} but received ${String(value)}`,
      { option },
    );
  }
  return value;
}

function validBucket(bucket: unknown): string {
  if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,62}$/.test(bucket)) {
    throw new ConfigError(
      `s3Datastore: expected options.bucket to be an S3 bucket name but received ${JSON.stringify(bucket)}`,
      { option: "bucket" },
    );
  }
  return bucket;
}

function validPrefix(prefix: unknown): string {
  if (
    typeof prefix !== "string" ||
    prefix.startsWith("/") ||
    prefix.split("/").some((seg) => seg === "." || seg === "..") ||
    /[\\\0]/.test(prefix) ||
    (prefix !== "" && !prefix.endsWith("/"))
  ) {
    throw new ConfigError(
      `s3Datastore: expected options.prefix to be "" or a relative path ending with "/" (no "..", "\\" or NUL) but received ${JSON.stringify(prefix)}`,
      { option: "prefix" },
    );
  }
  return prefix;
}

function validChecksums(checksums: unknown): S3Settings["checksums"] {
  if (checksums !== "WHEN_REQUIRED" && checksums !== "WHEN_SUPPORTED") {
    throw new ConfigError(
      `s3Datastore: expected options.checksums to be "WHEN_REQUIRED" or "WHEN_SUPPORTED" but received ${JSON.stringify(checksums)}`,
      { option: "checksums" },
    );
  }
  return checksums;
}

function validNotFoundRetry(options: S3DatastoreOptions): S3Settings["notFoundRetry"] {
  const retry = { ...DEFAULT_S3_DATASTORE_OPTIONS.notFoundRetry, ...options.notFoundRetry };
  configInt(retry.windowMs, "notFoundRetry.windowMs", 0);
  configInt(retry.attempts, "notFoundRetry.attempts", 0);
  configInt(retry.delayMs, "notFoundRetry.delayMs", 0);
  return retry;
}

function validPublicBaseUrl(publicBaseUrl: string | undefined): string | undefined {
  if (publicBaseUrl === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(publicBaseUrl);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
    throw new ConfigError(
      `s3Datastore: expected options.publicBaseUrl to be an http(s) URL but received ${JSON.stringify(publicBaseUrl)}`,
      { option: "publicBaseUrl" },
    );
  }
  return publicBaseUrl.replace(/\/+$/, "");
}

function validPresignExpiresIn(presign: S3DatastoreOptions["presign"]): number {
  const expiresIn =
    typeof presign === "object"
      ? configInt(
          presign.expiresIn ?? DEFAULT_S3_DATASTORE_OPTIONS.presignExpiresIn,
          "presign.expiresIn",
        )
      : DEFAULT_S3_DATASTORE_OPTIONS.presignExpiresIn;
  if (expiresIn > MAX_PRESIGN_SECONDS) {
    throw new ConfigError(
      `s3Datastore: expected options.presign.expiresIn to be at most ${MAX_PRESIGN_SECONDS} seconds (7 days) but received ${expiresIn}`,
      { option: "presign.expiresIn" },
    );
  }
  return expiresIn;
}

/** Validates every option (throwing a {@link ConfigError} naming it) and applies the defaults. @internal */
export function resolveS3Options(options: S3DatastoreOptions): S3Settings {
  const defaults = DEFAULT_S3_DATASTORE_OPTIONS;
  const bucket = validBucket(options?.bucket);
  return {
    bucket,
    prefix: validPrefix(options.prefix ?? defaults.prefix),
    id: validateId(options.id ?? defaults.id, "id", "s3Datastore"),
    readOnly: options.readOnly ?? false,
    partSize: configInt(options.partSize ?? defaults.partSize, "partSize", 5 * 1024 * 1024),
    queueSize: configInt(options.queueSize ?? defaults.queueSize, "queueSize"),
    maxAttempts: configInt(options.maxAttempts ?? defaults.maxAttempts, "maxAttempts"),
    checksums: validChecksums(options.checksums ?? defaults.checksums),
    notFoundRetry: validNotFoundRetry(options),
    publicBaseUrl: validPublicBaseUrl(options.publicBaseUrl),
    presign: Boolean(options.presign ?? false),
    presignExpiresIn: validPresignExpiresIn(options.presign ?? false),
    storageClass: options.storageClass as StorageClass | undefined,
    now: options.now ?? Date.now,
  };
}
