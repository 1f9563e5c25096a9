// An in-process S3-protocol server (s3rver) with one bucket, on a free loopback port.
// s3rver checks the access key ID but not the SigV4 signature math.
//
// s3rver 3.7.1 is patched per instance so that tests exercise our drivers, not its bugs:
// - `Range: bytes=N-0` (e.g. `bytes=0-0`) returned the whole object: the store's
//   `getObject` is replaced by one with real S3 range semantics (416 past EOF or on an
//   empty object, `end` clamped to the last byte).
// - AbortMultipartUpload (`DELETE ?uploadId=`) and ListMultipartUploads (`GET ?uploads`)
//   are not implemented by s3rver: a middleware in front of its router answers them, so a
//   test can assert from the server side that no multipart upload was left dangling.
// - `rejectChecksumHeaders: true` makes the server refuse any request carrying
//   `x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm` or a checksum trailer, like
//   S3-compatible stores that predate the 2025 SDK checksum defaults.
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
// @ts-expect-error s3rver ships no types
import S3rver from "s3rver";
import { freePort } from "./net.js";

export interface S3Server {
  /** `http://127.0.0.1:port`. */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** `bucket`, `endpoint`, `region`, `credentials` and `forcePathStyle`, as `s3Datastore` takes them. */
  readonly connection: {
    bucket: string;
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    forcePathStyle: true;
  };
  /** Where s3rver keeps the objects on disk. */
  readonly directory: string;
  /** Multipart uploads started and neither completed nor aborted, read from the server's disk. */
  openMultipartUploads(): Promise<Array<{ uploadId: string; key: string }>>;
  /** Upload IDs the server received an AbortMultipartUpload for. */
  readonly abortedUploads: readonly string[];
  /** Requests refused because they carried checksum headers (with `rejectChecksumHeaders`). */
  readonly rejectedChecksumRequests: number;
  /**
   * Answers the next `count` requests with `status` (default 503 SlowDown) before they
   * reach s3rver, like an overloaded or throttling S3. Resolves nothing; read `injectedFailures`.
   */
  failNextRequests(count: number, status?: number): void;
  /** Requests answered by {@link S3Server.failNextRequests} so far. */
  readonly injectedFailures: number;
  close(): Promise<void>;
}

export interface StartS3Options {
  bucket?: string;
  /** Refuse requests with `x-amz-checksum-*` headers or checksum trailers (400 InvalidRequest). */
  rejectChecksumHeaders?: boolean;
  /** Replace s3rver's range handling with real S3 semantics. @default true */
  fixRanges?: boolean;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
  set(name: string, value: string): void;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface StoredObject {
  content: NodeJS.ReadableStream | null;
  range?: { start: number; end: number };
  metadata: Record<string, string>;
  size: number;
}

interface FilesystemStore {
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getObject(
    bucket: string,
    key: string,
    options?: { start?: number; end?: number },
  ): Promise<StoredObject | null>;
}

interface S3rverInstance {
  middleware: Middleware[];
  store: FilesystemStore;
  run(): Promise<unknown>;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const S3Object = require("s3rver/lib/models/object.js") as new (
  bucket: string,
  key: string,
  content: NodeJS.ReadableStream | null,
  metadata: Record<string, string>,
) => StoredObject;

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** S3 range semantics: `end` clamped to the last byte, unsatisfiable past EOF or on an empty object. */
function fixRanges(store: FilesystemStore): void {
  store.getObject = async (bucket, key, options) => {
    let metadata: Record<string, string>;
    try {
      metadata = await store.getMetadata(bucket, key);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    const size = Number(metadata["content-length"]);
    const objectPath = store.getResourcePath(bucket, key, "object");
    const ranged =
      options !== undefined && (options.start !== undefined || options.end !== undefined);
    if (!ranged) {
      return new S3Object(bucket, key, createReadStream(objectPath), metadata);
    }
    const start = options.start ?? 0;
    const end = Math.min(options.end ?? size - 1, size - 1);
    if (size === 0 || start > size - 1 || (options.end !== undefined && options.end < start)) {
      const object = new S3Object(bucket, key, null, metadata);
      object.range = { start, end };
      return object;
    }
    const object = new S3Object(
      bucket,
      key,
      createReadStream(objectPath, { start, end }),
      metadata,
    );
    object.range = { start, end };
    return object;
  };
}

export async function startS3(options: StartS3Options = {}): Promise<S3Server> {
  const bucket = options.bucket ?? "media";
  const directory = await mkdtemp(path.join(os.tmpdir(), "mmk-s3-"));
  const port = await freePort();
  const server = new (S3rver as new (o: object) => S3rverInstance)({
    port,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
    vhostBuckets: false,
  });
  if (options.fixRanges !== false) fixRanges(server.store);

  const uploadsDir = (b: string): string => server.store.getResourcePath(b, undefined, "uploads");
  const abortedUploads: string[] = [];
  let rejectedChecksumRequests = 0;
  let failuresLeft = 0;
  let failureStatus = 503;
  let injectedFailures = 0;

  const front: Middleware = async (ctx, next) => {
    if (failuresLeft > 0) {
      failuresLeft--;
      injectedFailures++;
      ctx.status = failureStatus;
      ctx.type = "application/xml";
      ctx.body =
        failureStatus === 503
          ? errorXml("SlowDown", "Please reduce your request rate.")
          : errorXml("InternalError", "We encountered an internal error. Please try again.");
      return;
    }
    if (options.rejectChecksumHeaders) {
      const offending = Object.keys(ctx.headers).filter(
        (h) =>
          h.startsWith("x-amz-checksum-") ||
          h === "x-amz-sdk-checksum-algorithm" ||
          (h === "x-amz-trailer" && String(ctx.headers[h]).includes("checksum")),
      );
      if (offending.length > 0) {
        rejectedChecksumRequests++;
        ctx.status = 400;
        ctx.type = "application/xml";
        ctx.body = errorXml("InvalidRequest", `Unsupported header(s): ${offending.join(", ")}`);
        return;
      }
    }
    // Path-style only: /bucket/key...
    const match = /^\/([^/]+)(?:\/(.*))?$/.exec(ctx.path);
    const b = match?.[1];
    const uploadId = ctx.query.uploadId;
    if (b && ctx.method === "DELETE" && typeof uploadId === "string" && match[2]) {
      if (!/^[0-9a-f]+$/.test(uploadId)) {
        ctx.status = 404;
        ctx.type = "application/xml";
        ctx.body = errorXml("NoSuchUpload", "The specified upload does not exist.");
        return;
      }
      const dir = path.join(uploadsDir(b), uploadId);
      const exists = await stat(dir).then(
        () => true,
        () => false,
      );
      if (!exists) {
        ctx.status = 404;
        ctx.type = "application/xml";
        ctx.body = errorXml("NoSuchUpload", "The specified upload does not exist.");
        return;
      }
      await rm(dir, { recursive: true, force: true });
      abortedUploads.push(uploadId);
      ctx.status = 204;
      return;
    }
    if (b && !match[2] && ctx.method === "GET" && "uploads" in ctx.query) {
      const open = await listOpen(b);
      ctx.status = 200;
      ctx.type = "application/xml";
      ctx.body =
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${xmlEscape(b)}</Bucket>` +
        open
          .map(
            (u) =>
              `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.uploadId}</UploadId>` +
              `<Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
          )
          .join("") +
        `<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`;
      return;
    }
    await next();
  };
  server.middleware.unshift(front);

  async function listOpen(
    b: string,
  ): Promise<Array<{ uploadId: string; key: string; initiated: Date }>> {
    const dir = uploadsDir(b);
    const ids = await readdir(dir).catch(() => [] as string[]);
    const out: Array<{ uploadId: string; key: string; initiated: Date }> = [];
    for (const uploadId of ids) {
      const key = await readFile(path.join(dir, uploadId, "key"), "utf8").catch(() => "");
      const initiated = (await stat(path.join(dir, uploadId)).catch(() => undefined))?.mtime;
      out.push({ uploadId, key, initiated: initiated ?? new Date(0) });
    }
    return out;
  }

  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const region = "us-east-1";
  const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
  return {
    endpoint,
    port,
    bucket,
    region,
    credentials,
    connection: { bucket, endpoint, region, credentials, forcePathStyle: true },
    directory,
    openMultipartUploads: async () =>
      (await listOpen(bucket)).map(({ uploadId, key }) => ({ uploadId, key })),
    abortedUploads,
    get rejectedChecksumRequests() {
      return rejectedChecksumRequests;
    },
    failNextRequests(count: number, status = 503) {
      failuresLeft = count;
      failureStatus = status;
    },
    get injectedFailures() {
      return injectedFailures;
    },
    close: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
