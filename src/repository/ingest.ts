// Ingest: streaming bytes into the datastore under the upload size policy, pinning a fresh
// blob until its record exists, and finishing an upload (record, quarantine carry-over,
// thumbnail pre-generation).
import { channel } from "node:diagnostics_channel";
import type { Datastore } from "../datastore/types.js";
import { MediaError } from "../errors.js";
import type { MediaRecord, MediaRecordKind } from "../metadata/types.js";
import { formatMxc, type MediaKind } from "../mxc.js";
import { localOrigin, type RepositoryContext } from "./context.js";
import { scheduleThumbnails } from "./thumbnails.js";
import type { UploadOptions, UploadResult } from "./types.js";

const uploadChannel = channel("matrix-media-kit:repository:upload");

const SNIFF_BYTES = 4100;

/** Options of {@link ingest}. @internal */
export interface IngestOptions {
  contentType?: string | undefined;
  /** Declared size: over `maxBytes` it is refused before any byte is read; a mismatch is refused after. */
  contentLength?: number | undefined;
  signal?: AbortSignal | undefined;
  /** The upload size policy; absent when the producer already bounded the bytes (preview images). */
  maxBytes?: number | undefined;
}

/** A blob in the datastore, pinned until {@link finishUpload} records it. @internal */
export interface IngestedBlob {
  datastore: Datastore;
  key: string;
  size: number;
  sha256: string;
  /** The type sniffed from the first bytes, if recognised. */
  sniffed: string | undefined;
}

/** Which upload a finished blob becomes. @internal */
export interface UploadTarget {
  origin: string;
  mediaId: string;
  kind: MediaRecordKind;
  contentType?: string | undefined;
  filename?: string | undefined;
  uploader: string | null;
}

function toIterable(source: AsyncIterable<Uint8Array> | Uint8Array): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    return (async function* () {
      yield source;
    })();
  }
  return source;
}

async function sniff(head: Uint8Array): Promise<string | undefined> {
  if (head.length === 0) return undefined;
  try {
    const { fileTypeFromBuffer } = await import("file-type");
    return (await fileTypeFromBuffer(head))?.mime;
  } catch {
    return undefined;
  }
}

function tooLarge(maxBytes: number, contentLength?: number): MediaError {
  return new MediaError(
    "M_TOO_LARGE",
    contentLength === undefined
      ? `Upload exceeds limits.maxUploadBytes (${maxBytes})`
      : `Upload of ${contentLength} bytes exceeds limits.maxUploadBytes (${maxBytes})`,
  );
}

function pin(ctx: RepositoryContext, sha256: string): void {
  ctx.pins.set(sha256, (ctx.pins.get(sha256) ?? 0) + 1);
}

function unpin(ctx: RepositoryContext, sha256: string): void {
  const n = (ctx.pins.get(sha256) ?? 1) - 1;
  if (n <= 0) ctx.pins.delete(sha256);
  else ctx.pins.set(sha256, n);
}

/**
 * Streams `source` into the datastore of `kind`, counting bytes against `maxBytes` and keeping
 * the first bytes to sniff; the stored blob is pinned until {@link finishUpload}. @internal
 */
export async function ingest(
  ctx: RepositoryContext,
  kind: MediaKind,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  opts: IngestOptions,
): Promise<IngestedBlob> {
  const { contentLength, maxBytes, signal } = opts;
  if (contentLength !== undefined && maxBytes !== undefined && contentLength > maxBytes) {
    throw tooLarge(maxBytes, contentLength);
  }
  signal?.throwIfAborted();
  const datastore = ctx.datastores.forKind(kind);
  const head: Buffer[] = [];
  let headBytes = 0;
  let total = 0;
  // The signal and the size policy are checked here rather than handed to the datastore, so
  // that a long upload does not pile up one abort listener or race per chunk.
  const counted = (async function* () {
    for await (const chunk of toIterable(source)) {
      if (signal?.aborted) throw signal.reason ?? new MediaError("M_UNKNOWN", "Upload aborted");
      total += chunk.length;
      if (maxBytes !== undefined && total > maxBytes) throw tooLarge(maxBytes);
      if (headBytes < SNIFF_BYTES) {
        const piece = Buffer.from(chunk.subarray(0, SNIFF_BYTES - headBytes));
        head.push(piece);
        headBytes += piece.length;
      }
      yield chunk;
    }
  })();
  const put = await datastore.put(
    counted,
    opts.contentType ? { contentType: opts.contentType } : {},
  );
  if (contentLength !== undefined && put.size !== contentLength) {
    await deleteBlobIfUnused(ctx, datastore, put.key, put.sha256);
    throw new MediaError(
      "M_INVALID_PARAM",
      `Received ${put.size} bytes but Content-Length said ${contentLength}`,
    );
  }
  // Until its record exists, a freshly stored blob must survive a concurrent delete of
  // other media with the same bytes (unpinned by finishUpload).
  pin(ctx, put.sha256);
  return { datastore, ...put, sniffed: await sniff(Buffer.concat(head)) };
}

/** Deletes a blob unless a record or an ingest in progress still uses it; failures are logged. @internal */
export async function deleteBlobIfUnused(
  ctx: RepositoryContext,
  datastore: Datastore,
  key: string,
  sha256: string,
): Promise<void> {
  if (ctx.pins.has(sha256)) return;
  try {
    const users = await ctx.metadata.getMediaBySha256(sha256);
    if (users.some((r) => r.datastoreId === datastore.id && r.location === key)) return;
    await datastore.delete(key);
  } catch (error) {
    ctx.logger?.warn("could not delete an unused blob", { error, key });
  }
}

/**
 * Records an ingested blob with `insert` (a plain insert, or completing a pending upload),
 * carries an existing quarantine of the same bytes over, and schedules thumbnails. @internal
 */
export async function finishUpload(
  ctx: RepositoryContext,
  blob: IngestedBlob,
  target: UploadTarget,
  insert: (record: MediaRecord) => Promise<void>,
): Promise<UploadResult> {
  const { origin, mediaId } = target;
  const at = ctx.now();
  const record: MediaRecord = {
    origin,
    mediaId,
    kind: target.kind,
    contentType: target.contentType || blob.sniffed || "application/octet-stream",
    filename: target.filename ?? null,
    size: blob.size,
    sha256: blob.sha256,
    datastoreId: blob.datastore.id,
    location: blob.key,
    uploader: target.uploader,
    createdAt: at,
    lastAccessAt: at,
    quarantined: false,
    protected: false,
  };
  try {
    await insert(record);
  } catch (error) {
    unpin(ctx, blob.sha256);
    await deleteBlobIfUnused(ctx, blob.datastore, blob.key, blob.sha256);
    throw error;
  }
  unpin(ctx, blob.sha256);
  const sameBytes = await ctx.metadata.getMediaBySha256(record.sha256);
  if (sameBytes.some((r) => r.quarantined)) {
    // Bytes already quarantined stay quarantined under every new ID.
    await ctx.metadata.quarantine({ mxc: { origin, mediaId } }, true);
    record.quarantined = true;
  }
  if (uploadChannel.hasSubscribers) uploadChannel.publish({ record });
  if (!record.quarantined) scheduleThumbnails(ctx, record, blob.sniffed);
  return { mxc: formatMxc({ origin, mediaId }), record };
}

/** A local upload under a fresh media ID. @internal */
export async function upload(
  ctx: RepositoryContext,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  opts: UploadOptions,
): Promise<UploadResult> {
  const origin = localOrigin(ctx, opts.origin);
  const blob = await ingest(ctx, "local", source, { ...opts, maxBytes: ctx.limits.maxUploadBytes });
  const mediaId = ctx.ids.next();
  return finishUpload(ctx, blob, { ...uploadTarget(opts), origin, mediaId }, (r) =>
    ctx.metadata.insertMedia(r),
  );
}

/** The fields of a client upload that go into its record. @internal */
export function uploadTarget(
  opts: UploadOptions,
): Pick<UploadTarget, "kind" | "contentType" | "filename" | "uploader"> {
  return {
    kind: "local",
    contentType: opts.contentType,
    filename: opts.filename,
    uploader: opts.uploader,
  };
}
