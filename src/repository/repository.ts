import { channel } from "node:diagnostics_channel";
import type { Readable } from "node:stream";
import type { MediaCache } from "../cache/types.js";
import type { Datastore } from "../datastore/types.js";
import { MediaError } from "../errors.js";
import { isValidMediaId, isValidServerName } from "../ids/validate.js";
import type {
  MediaRecord,
  MediaRecordKind,
  QuarantineTarget,
  ThumbnailRecord,
} from "../metadata/types.js";
import { formatMxc, type MediaKind } from "../mxc.js";
import type {
  DatastoreRouter,
  GeneratedThumbnail,
  LookupOptions,
  MediaRepository,
  MediaRepositoryOptions,
  ReadOptions,
  RepositoryLimits,
  ThumbnailBody,
  ThumbnailMethod,
  ThumbnailOptions,
  UploadOptions,
  UploadResult,
} from "./types.js";

/**
 * Defaults of {@link RepositoryLimits}; override any of them with `limits`.
 *
 * @example
 * ```ts
 * createMediaRepository({ ...options, limits: { maxUploadBytes: DEFAULT_REPOSITORY_LIMITS.maxUploadBytes * 2 } });
 * ```
 */
export const DEFAULT_REPOSITORY_LIMITS: Readonly<RepositoryLimits> = Object.freeze({
  maxUploadBytes: 50 * 1024 * 1024,
  maxPendingPerUser: 10,
  pendingExpiryMs: 24 * 60 * 60 * 1000,
  defaultWaitMs: 20_000,
  maxWaitMs: 60_000,
  maxCachedBytes: 4 * 1024 * 1024,
  maxThumbnailSourceBytes: 50 * 1024 * 1024,
  touchIntervalMs: 30_000,
  previewTtlMs: 60 * 60 * 1000,
  sweepIntervalMs: 10 * 60 * 1000,
});

/**
 * The cache key of a blob (media or thumbnail bytes), by its SHA-256.
 *
 * @example
 * ```ts
 * const cached = await cache.get(blobCacheKey(record.sha256));
 * ```
 */
export function blobCacheKey(sha256: string): string {
  return `blob:${sha256}`;
}

const uploadChannel = channel("matrix-media-kit:repository:upload");
const quarantineChannel = channel("matrix-media-kit:repository:quarantine");
const thumbnailChannel = channel("matrix-media-kit:repository:thumbnail");

const SNIFF_BYTES = 4100;
/** How often a waiter for a pending upload re-reads metadata (completion in another process). */
const PENDING_POLL_MS = 500;

function notFound(): MediaError {
  return new MediaError("M_NOT_FOUND", "Media not found");
}

function isRouter(value: unknown): value is DatastoreRouter {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { forKind?: unknown }).forKind === "function" &&
    typeof (value as { byId?: unknown }).byId === "function"
  );
}

function validateLimits(limits: Partial<RepositoryLimits> | undefined): RepositoryLimits {
  const merged: RepositoryLimits = { ...DEFAULT_REPOSITORY_LIMITS };
  for (const [name, value] of Object.entries(limits ?? {})) {
    if (!(name in DEFAULT_REPOSITORY_LIMITS)) {
      throw new TypeError(`Unknown option limits.${name}`);
    }
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(
        `Expected a non-negative integer for limits.${name} but received ${String(value)}`,
      );
    }
    merged[name as keyof RepositoryLimits] = value;
  }
  if (merged.maxUploadBytes < 1) {
    throw new RangeError(
      `Expected limits.maxUploadBytes >= 1 but received ${merged.maxUploadBytes}`,
    );
  }
  if (merged.defaultWaitMs > merged.maxWaitMs) {
    throw new RangeError(
      `limits.defaultWaitMs (${merged.defaultWaitMs}) must not exceed limits.maxWaitMs (${merged.maxWaitMs})`,
    );
  }
  return merged;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
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

function thumbnailFits(
  thumb: { width: number; height: number; method: ThumbnailMethod },
  want: { width: number; height: number; method: ThumbnailMethod },
  source: { width: number; height: number } | undefined,
): boolean {
  if (thumb.method !== want.method) return false;
  if (want.method === "scale") {
    // A scaled thumbnail keeps the source's aspect ratio, so reaching the requested box in
    // either dimension means it is at least as large as the requested fit.
    if (thumb.width >= want.width || thumb.height >= want.height) return true;
  } else {
    const aspect = Math.abs(thumb.width / thumb.height - want.width / want.height);
    if (aspect > 0.02 * (want.width / want.height)) return false;
    if (thumb.width >= want.width && thumb.height >= want.height) return true;
  }
  // The source itself is smaller than asked: the full-size thumbnail is the largest there is.
  return source !== undefined && (thumb.width >= source.width || thumb.height >= source.height);
}

/**
 * Creates a media repository: the upload, download, thumbnail, preview, quarantine and
 * purge flows over a datastore, a metadata store, a cache, a thumbnailer and a preview
 * fetcher. `createMediaHandler()` (`matrix-media-kit/http`) serves it over HTTP.
 *
 * - Uploads stream: `contentLength` is checked first, bytes are counted while streaming
 *   and the datastore hashes them on the fly; identical bytes are stored once (the
 *   datastore is content-addressed) while each upload gets its own media ID.
 * - Downloads check metadata first (quarantined media is `M_NOT_FOUND` even if cached),
 *   then the cache (media up to `limits.maxCachedBytes`, filled on read), then the datastore.
 * - Last-access times are written in batches every `limits.touchIntervalMs`.
 *
 * @example
 * ```ts
 * import { createMediaRepository } from "matrix-media-kit";
 * import { createMediaIdGenerator } from "matrix-media-kit/ids";
 * import { fsDatastore } from "matrix-media-kit/datastore";
 * import { memoryMetadataStore } from "matrix-media-kit/metadata";
 * import { memoryCache } from "matrix-media-kit/cache";
 *
 * const repo = createMediaRepository({
 *   serverName: "example.org",
 *   ids: createMediaIdGenerator({ machineId: 1 }),
 *   datastore: fsDatastore({ root: "./data/media" }),
 *   metadata: memoryMetadataStore(),
 *   cache: memoryCache({ maxBytes: 256 * 1024 * 1024 }),
 * });
 * const { mxc } = await repo.upload(Buffer.from("hello"), {
 *   contentType: "text/plain",
 *   uploader: "@alice:example.org",
 * });
 * ```
 */
export function createMediaRepository(options: MediaRepositoryOptions): MediaRepository {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("createMediaRepository expects an options object");
  }
  const serverNames = options.serverNames
    ? [...options.serverNames]
    : options.serverName !== undefined
      ? [options.serverName]
      : [];
  if (options.serverName !== undefined && options.serverNames !== undefined) {
    throw new TypeError("Give either serverName or serverNames, not both");
  }
  if (serverNames.length === 0) {
    throw new TypeError(
      "Expected serverName (or a non-empty serverNames) for createMediaRepository",
    );
  }
  for (const name of serverNames) {
    if (!isValidServerName(name)) {
      throw new TypeError(
        `Expected a Matrix server name for serverName but received ${JSON.stringify(name)}`,
      );
    }
  }
  if (typeof options.ids?.next !== "function") {
    throw new TypeError("Expected ids to be a media ID generator ({ next(): string })");
  }
  if (typeof options.datastore !== "object" || options.datastore === null) {
    throw new TypeError("Expected datastore to be a Datastore or a datastore router (routeByKind)");
  }
  if (typeof options.metadata?.getMedia !== "function") {
    throw new TypeError("Expected metadata to be a MetadataStore");
  }
  const limits = validateLimits(options.limits);
  const now = options.now ?? Date.now;
  const { ids, metadata, thumbnailer, previews, logger } = options;
  const cache: MediaCache | undefined = options.cache;
  const datastoreOption = options.datastore;
  const localNames = new Set(serverNames);

  const forKind = (kind: MediaKind): Datastore =>
    isRouter(datastoreOption) ? datastoreOption.forKind(kind) : datastoreOption;
  const byId = (id: string): Datastore => {
    const store = isRouter(datastoreOption)
      ? datastoreOption.byId(id)
      : datastoreOption.id === id
        ? datastoreOption
        : undefined;
    if (!store) {
      throw new MediaError(
        "M_UNKNOWN",
        `Media is stored in datastore ${JSON.stringify(id)}, which is not configured`,
      );
    }
    return store;
  };

  // ---- background work and last-access batching --------------------------------------

  const background = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>): void => {
    const p = work.catch((error: unknown) => logger?.warn("background task failed", { error }));
    background.add(p);
    void p.finally(() => background.delete(p));
  };

  const touches = new Map<string, { origin: string; mediaId: string; at: number }>();
  const flushTouches = async (): Promise<void> => {
    if (touches.size === 0) return;
    const batch = [...touches.values()];
    touches.clear();
    try {
      await metadata.touchMedia(batch);
    } catch (error) {
      logger?.warn("could not record last-access times", { error, count: batch.length });
    }
  };
  const touchTimer =
    limits.touchIntervalMs > 0
      ? setInterval(() => track(flushTouches()), limits.touchIntervalMs)
      : undefined;
  touchTimer?.unref();

  // Expired pending uploads and preview cache rows would otherwise accumulate forever.
  const sweepExpired = async (): Promise<{ pending: number; previews: number }> => {
    const at = now();
    const [pending, previews] = await Promise.all([
      metadata.deleteExpiredPending(at),
      metadata.deleteExpiredPreviews(at),
    ]);
    return { pending, previews };
  };
  const sweepTimer =
    limits.sweepIntervalMs > 0
      ? setInterval(
          () =>
            track(
              sweepExpired().then(
                () => undefined,
                (error: unknown) => logger?.warn("could not sweep expired metadata", { error }),
              ),
            ),
          limits.sweepIntervalMs,
        )
      : undefined;
  sweepTimer?.unref();
  const touch = (record: MediaRecord): void => {
    touches.set(`${record.origin}/${record.mediaId}`, {
      origin: record.origin,
      mediaId: record.mediaId,
      at: now(),
    });
  };

  // ---- pending uploads: in-process wake-ups ---------------------------------------------

  const waiters = new Map<string, Set<() => void>>();
  const wake = (origin: string, mediaId: string): void => {
    const key = `${origin}/${mediaId}`;
    const set = waiters.get(key);
    if (!set) return;
    waiters.delete(key);
    for (const fn of set) fn();
  };
  const waitForWake = (
    origin: string,
    mediaId: string,
    ms: number,
    signal?: AbortSignal,
  ): Promise<void> =>
    new Promise((resolve) => {
      const key = `${origin}/${mediaId}`;
      let set = waiters.get(key);
      if (!set) waiters.set(key, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        set.delete(done);
        if (set.size === 0 && waiters.get(key) === set) waiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });

  // ---- helpers ----------------------------------------------------------------------------

  const checkIds = (origin: string, mediaId: string): void => {
    if (!isValidServerName(origin)) {
      throw new MediaError("M_INVALID_PARAM", "Invalid server name");
    }
    if (!isValidMediaId(mediaId)) {
      throw new MediaError("M_INVALID_PARAM", "Invalid media ID");
    }
  };

  const pickOrigin = (origin: string | undefined): string => {
    if (origin === undefined) return serverNames[0]!;
    if (!localNames.has(origin)) {
      throw new MediaError("M_FORBIDDEN", `${origin} is not a server name of this repository`);
    }
    return origin;
  };

  /** Streams into the datastore, enforcing the size limit and sniffing the first bytes. */
  const store = async (
    kind: MediaKind,
    source: AsyncIterable<Uint8Array> | Uint8Array,
    opts: {
      contentType?: string | undefined;
      contentLength?: number | undefined;
      signal?: AbortSignal | undefined;
      maxBytes: number;
    },
  ): Promise<{
    datastore: Datastore;
    key: string;
    size: number;
    sha256: string;
    sniffed: string | undefined;
  }> => {
    if (opts.contentLength !== undefined && opts.contentLength > opts.maxBytes) {
      throw new MediaError(
        "M_TOO_LARGE",
        `Upload of ${opts.contentLength} bytes exceeds limits.maxUploadBytes (${opts.maxBytes})`,
      );
    }
    opts.signal?.throwIfAborted();
    const datastore = forKind(kind);
    const head: Buffer[] = [];
    let headBytes = 0;
    let total = 0;
    const { maxBytes } = opts;
    const { signal } = opts;
    // The signal is checked here rather than handed to the datastore, so that a long upload
    // does not pile up one abort listener or race per chunk.
    const counted = (async function* () {
      for await (const chunk of toIterable(source)) {
        if (signal?.aborted) throw signal.reason ?? new MediaError("M_UNKNOWN", "Upload aborted");
        total += chunk.length;
        if (total > maxBytes) {
          throw new MediaError("M_TOO_LARGE", `Upload exceeds limits.maxUploadBytes (${maxBytes})`);
        }
        if (headBytes < SNIFF_BYTES) {
          const piece = Buffer.from(chunk.subarray(0, SNIFF_BYTES - headBytes));
          head.push(piece);
          headBytes += piece.length;
        }
        yield chunk;
      }
    })();
    const put = await datastore.put(counted, {
      maxBytes,
      ...(opts.contentType ? { contentType: opts.contentType } : {}),
    });
    if (opts.contentLength !== undefined && put.size !== opts.contentLength) {
      await deleteBlobIfUnused(datastore, put.key, put.sha256);
      throw new MediaError(
        "M_INVALID_PARAM",
        `Received ${put.size} bytes but Content-Length said ${opts.contentLength}`,
      );
    }
    // Until its record exists, a freshly stored blob must survive a concurrent delete of
    // other media with the same bytes (released by finishUpload).
    hold(put.sha256);
    return { datastore, ...put, sniffed: await sniff(Buffer.concat(head)) };
  };

  const storing = new Map<string, number>();
  const hold = (sha256: string): void => {
    storing.set(sha256, (storing.get(sha256) ?? 0) + 1);
  };
  const release = (sha256: string): void => {
    const n = (storing.get(sha256) ?? 1) - 1;
    if (n <= 0) storing.delete(sha256);
    else storing.set(sha256, n);
  };

  const deleteBlobIfUnused = async (
    datastore: Datastore,
    key: string,
    sha256: string,
  ): Promise<void> => {
    if (storing.has(sha256)) return;
    try {
      const users = await metadata.getMediaBySha256(sha256);
      if (users.some((r) => r.datastoreId === datastore.id && r.location === key)) return;
      await datastore.delete(key);
    } catch (error) {
      logger?.warn("could not delete an unused blob", { error, key });
    }
  };

  const scheduleThumbnails = (record: MediaRecord, sniffed: string | undefined): void => {
    if (!thumbnailer?.generateAll) return;
    const type = sniffed ?? record.contentType;
    if (!type.startsWith("image/") || record.size > limits.maxThumbnailSourceBytes) return;
    const generateAll = thumbnailer.generateAll.bind(thumbnailer);
    track(
      (async () => {
        const source = await loadWhole(record);
        const results = await generateAll(source, { animated: false });
        for (const result of results) await storeThumbnail(record, result);
      })().catch((error: unknown) => {
        logger?.debug?.("no pre-generated thumbnails", { error, mediaId: record.mediaId });
      }),
    );
  };

  const finishUpload = async (
    stored: Awaited<ReturnType<typeof store>>,
    origin: string,
    mediaId: string,
    kind: MediaRecordKind,
    opts: {
      contentType?: string | undefined;
      filename?: string | undefined;
      uploader: string | null;
    },
    insert: (record: MediaRecord) => Promise<void>,
  ): Promise<UploadResult> => {
    const at = now();
    const record: MediaRecord = {
      origin,
      mediaId,
      kind,
      contentType: opts.contentType || stored.sniffed || "application/octet-stream",
      filename: opts.filename ?? null,
      size: stored.size,
      sha256: stored.sha256,
      datastoreId: stored.datastore.id,
      location: stored.key,
      uploader: opts.uploader,
      createdAt: at,
      lastAccessAt: at,
      quarantined: false,
      protected: false,
    };
    try {
      await insert(record);
    } catch (error) {
      release(stored.sha256);
      await deleteBlobIfUnused(stored.datastore, stored.key, stored.sha256);
      throw error;
    }
    release(stored.sha256);
    const quarantined = (await metadata.getMediaBySha256(record.sha256)).some((r) => r.quarantined);
    if (quarantined) {
      // Bytes already quarantined stay quarantined under every new ID.
      await metadata.quarantine({ mxc: { origin, mediaId } }, true);
      record.quarantined = true;
    }
    if (uploadChannel.hasSubscribers) uploadChannel.publish({ record });
    if (!record.quarantined) scheduleThumbnails(record, stored.sniffed);
    return { mxc: formatMxc({ origin, mediaId }), record };
  };

  const loadWhole = async (record: { datastoreId: string; location: string }): Promise<Buffer> => {
    const { stream } = await byId(record.datastoreId).get(record.location);
    return collect(stream);
  };

  const loadCached = async (record: MediaRecord | ThumbnailRecord): Promise<Buffer> => {
    if (!cache || record.size > limits.maxCachedBytes) return loadWhole(record);
    const buffer = await cache.getOrLoad(blobCacheKey(record.sha256), () => loadWhole(record));
    return buffer ?? loadWhole(record);
  };

  const storeThumbnail = async (
    record: MediaRecord,
    result: GeneratedThumbnail,
  ): Promise<ThumbnailRecord> => {
    const datastore = forKind("thumbnail");
    const put = await datastore.put(result.data, { contentType: result.contentType });
    const thumb: ThumbnailRecord = {
      origin: record.origin,
      mediaId: record.mediaId,
      width: result.width,
      height: result.height,
      method: result.method,
      animated: result.animated,
      contentType: result.contentType,
      size: put.size,
      sha256: put.sha256,
      datastoreId: datastore.id,
      location: put.key,
      createdAt: now(),
    };
    await metadata.putThumbnail(thumb);
    return thumb;
  };

  const purgeCaches = async (shas: Iterable<string>): Promise<void> => {
    if (!cache) return;
    await Promise.all([...new Set(shas)].map((sha) => cache.delete(blobCacheKey(sha))));
  };

  // Single flight of on-demand thumbnails per (media, size) within this process.
  const thumbnailFlights = new Map<string, Promise<ThumbnailBody>>();
  // Sources the thumbnailer refused as unsupported (by sha256), bounded.
  const refusedSources = new Map<string, MediaError>();
  // Source dimensions seen by this process, to recognise a thumbnail limited by its source.
  const sourceSizes = new Map<string, { width: number; height: number }>();
  const rememberSource = (sha256: string, size: { width: number; height: number }): void => {
    sourceSizes.delete(sha256);
    sourceSizes.set(sha256, size);
    if (sourceSizes.size > 10_000) sourceSizes.delete(sourceSizes.keys().next().value!);
  };

  // ---- the repository -------------------------------------------------------------------

  const repo: MediaRepository = {
    serverNames,
    limits,

    isLocal: (origin) => localNames.has(origin),

    async upload(source, opts: UploadOptions) {
      const origin = pickOrigin(opts.origin);
      const stored = await store("local", source, { ...opts, maxBytes: limits.maxUploadBytes });
      const mediaId = ids.next();
      return finishUpload(stored, origin, mediaId, "local", opts, (r) => metadata.insertMedia(r));
    },

    async createPending(uploader, opts = {}) {
      const origin = pickOrigin(opts.origin);
      const mediaId = ids.next();
      const createdAt = now();
      const expiresAt = createdAt + limits.pendingExpiryMs;
      await metadata.createPending(
        { origin, mediaId, creator: uploader, createdAt, expiresAt },
        { maxPendingPerUser: limits.maxPendingPerUser },
      );
      return { mxc: formatMxc({ origin, mediaId }), expiresAt };
    },

    async checkPending(origin, mediaId, uploader) {
      checkIds(origin, mediaId);
      if (!localNames.has(origin)) throw notFound();
      const pending = await metadata.getPending(origin, mediaId);
      if (!pending || pending.expiresAt <= now()) {
        if (await metadata.getMedia(origin, mediaId)) {
          throw new MediaError("M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
        }
        throw notFound();
      }
      if (pending.creator !== uploader) {
        throw new MediaError("M_FORBIDDEN", "Only the creator of a media ID may upload to it");
      }
    },

    async uploadPending(origin, mediaId, source, opts) {
      await repo.checkPending(origin, mediaId, opts.uploader);
      const stored = await store("local", source, { ...opts, maxBytes: limits.maxUploadBytes });
      const result = await finishUpload(stored, origin, mediaId, "local", opts, (r) =>
        metadata.completePending(r, now()),
      );
      wake(origin, mediaId);
      return result;
    },

    async lookup(origin, mediaId, opts: LookupOptions = {}) {
      checkIds(origin, mediaId);
      let record = await metadata.getMedia(origin, mediaId);
      if (!record) {
        const pending = localNames.has(origin)
          ? await metadata.getPending(origin, mediaId)
          : undefined;
        if (!pending || pending.expiresAt <= now()) throw notFound();
        const waitMs = Math.min(
          Math.max(0, opts.timeoutMs ?? limits.defaultWaitMs),
          limits.maxWaitMs,
        );
        const deadline = performance.now() + waitMs;
        for (;;) {
          const left = deadline - performance.now();
          if (left <= 0 || opts.signal?.aborted) {
            throw new MediaError("M_NOT_YET_UPLOADED", "The media has not been uploaded yet");
          }
          await waitForWake(origin, mediaId, Math.min(left, PENDING_POLL_MS), opts.signal);
          record = await metadata.getMedia(origin, mediaId);
          if (record) break;
        }
      }
      if (record.quarantined) throw notFound();
      touch(record);
      return record;
    },

    async read(record, opts: ReadOptions = {}) {
      const datastore = byId(record.datastoreId);
      if (opts.allowRedirect && datastore.capabilities.url && datastore.url) {
        const url = await datastore.url(record.location);
        if (url) return { size: record.size, redirect: url };
      }
      const range = opts.range;
      if (cache && record.size <= limits.maxCachedBytes) {
        const buffer = await loadCached(record);
        if (!range) return { size: buffer.length, buffer };
        const end = Math.min(range.end ?? buffer.length - 1, buffer.length - 1);
        if (range.start > end) {
          throw new MediaError("M_INVALID_PARAM", "Range not satisfiable", { status: 416 });
        }
        return {
          size: buffer.length,
          range: { start: range.start, end },
          buffer: buffer.subarray(range.start, end + 1),
        };
      }
      const got = await datastore.get(record.location, {
        ...(range ? { range } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return { size: got.size, stream: got.stream, ...(got.range ? { range: got.range } : {}) };
    },

    async download(origin, mediaId, opts = {}) {
      const record = await repo.lookup(origin, mediaId, opts);
      return { record, body: await repo.read(record, opts) };
    },

    async thumbnail(origin, mediaId, opts: ThumbnailOptions) {
      const want = { width: opts.width, height: opts.height, method: opts.method ?? "scale" };
      for (const [name, value] of [
        ["width", want.width],
        ["height", want.height],
      ] as const) {
        if (!Number.isSafeInteger(value) || value < 1) {
          throw new MediaError("M_INVALID_PARAM", `Expected a positive integer ${name}`);
        }
      }
      if (want.method !== "crop" && want.method !== "scale") {
        throw new MediaError("M_INVALID_PARAM", "Expected method crop or scale");
      }
      const record = await repo.lookup(origin, mediaId, opts);
      if (!thumbnailer) throw new MediaError("M_NOT_FOUND", "Thumbnails are not enabled");
      const animated = opts.animated === true;

      const serve = async (thumb: ThumbnailRecord): Promise<ThumbnailBody | undefined> => {
        try {
          const buffer = await loadCached(thumb);
          return {
            contentType: thumb.contentType,
            width: thumb.width,
            height: thumb.height,
            method: thumb.method,
            animated: thumb.animated,
            sha256: thumb.sha256,
            buffer,
          };
        } catch (error) {
          if (MediaError.is(error) && error.errcode === "M_NOT_FOUND") return undefined; // regenerate
          throw error;
        }
      };

      const existing = await metadata.getThumbnails(origin, mediaId);
      const source = sourceSizes.get(record.sha256);
      const candidates = existing
        .filter((t) => (animated ? true : !t.animated) && thumbnailFits(t, want, source))
        .sort(
          (a, b) =>
            Number(b.animated === animated) - Number(a.animated === animated) ||
            a.width * a.height - b.width * b.height,
        );
      for (const candidate of candidates.slice(0, 1)) {
        const body = await serve(candidate);
        if (body) {
          if (thumbnailChannel.hasSubscribers) thumbnailChannel.publish({ record, hit: true });
          return body;
        }
      }

      if (record.size > limits.maxThumbnailSourceBytes) {
        throw new MediaError("M_TOO_LARGE", "The media is too large to thumbnail", { status: 400 });
      }
      const refusal = refusedSources.get(record.sha256);
      if (refusal) throw refusal;
      const flightKey = `${origin}/${mediaId}/${want.width}x${want.height}/${want.method}/${animated}`;
      let flight = thumbnailFlights.get(flightKey);
      if (!flight) {
        flight = (async () => {
          const data = await loadWhole(record);
          const picked = thumbnailer.pickSize
            ? thumbnailer.pickSize(want, sourceSizes.get(record.sha256))
            : want;
          // No configured size is large enough: make the requested one (never upscaled).
          const size = thumbnailFits(picked, want, undefined) ? picked : want;
          const result = await thumbnailer.generate(data, { ...size, animated });
          if (result.width < want.width && result.height < want.height) {
            // Smaller than asked in both dimensions: the source bounded it.
            rememberSource(record.sha256, { width: result.width, height: result.height });
          }
          const thumb = await storeThumbnail(record, result);
          if (cache && thumb.size <= limits.maxCachedBytes) {
            await cache.set(blobCacheKey(thumb.sha256), result.data);
          }
          if (thumbnailChannel.hasSubscribers) thumbnailChannel.publish({ record, hit: false });
          return {
            contentType: thumb.contentType,
            width: thumb.width,
            height: thumb.height,
            method: thumb.method,
            animated: thumb.animated,
            sha256: thumb.sha256,
            buffer: result.data,
          };
        })();
        thumbnailFlights.set(flightKey, flight);
        void flight.then(
          () => thumbnailFlights.delete(flightKey),
          (error: unknown) => {
            thumbnailFlights.delete(flightKey);
            // Bytes the thumbnailer cannot read are not read from the datastore again.
            if (MediaError.is(error) && error.errcode === "M_UNSUPPORTED") {
              refusedSources.set(record.sha256, error);
              if (refusedSources.size > 10_000) {
                refusedSources.delete(refusedSources.keys().next().value!);
              }
            }
          },
        );
      }
      return flight;
    },

    async preview(url, opts) {
      if (!previews) throw new MediaError("M_NOT_FOUND", "URL previews are not enabled");
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new MediaError("M_INVALID_PARAM", "Expected an absolute http(s) URL");
      }
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        throw new MediaError("M_INVALID_PARAM", "Expected an absolute http(s) URL");
      }
      const hour = 60 * 60 * 1000;
      const ts = opts.ts ?? now();
      const bucket = ts - (ts % hour);
      const language = opts.language ?? "";
      const cached = await metadata.getPreview(url, bucket, language);
      if (cached && cached.expiresAt > now()) {
        return JSON.parse(cached.json) as Record<string, string | number>;
      }
      const result = await previews.preview(url, {
        ts,
        ...(opts.language ? { language: opts.language } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const og: Record<string, string | number> = { ...result.og };
      if (result.image) {
        const image = result.image;
        const stored = await store("preview", image.data, {
          contentType: image.contentType,
          maxBytes: Math.max(limits.maxUploadBytes, image.data.length),
        });
        const uploaded = await finishUpload(
          stored,
          serverNames[0]!,
          ids.next(),
          "preview",
          { contentType: image.contentType, uploader: opts.userId },
          (r) => metadata.insertMedia(r),
        );
        og["og:image"] = uploaded.mxc;
        og["matrix:image:size"] = stored.size;
        if (image.width !== undefined) og["og:image:width"] = image.width;
        if (image.height !== undefined) og["og:image:height"] = image.height;
        og["og:image:type"] = image.contentType;
      } else if (typeof og["og:image"] === "string" && !og["og:image"].startsWith("mxc://")) {
        // Never hand a remote image URL to clients: fetching it would leak their addresses.
        delete og["og:image"];
      }
      try {
        await metadata.putPreview({
          url,
          bucket,
          language,
          json: JSON.stringify(og),
          expiresAt: now() + limits.previewTtlMs,
        });
      } catch (error) {
        logger?.warn("could not cache a URL preview", { error });
      }
      return og;
    },

    config() {
      return { "m.upload.size": limits.maxUploadBytes };
    },

    async quarantine(target: QuarantineTarget, value = true) {
      const result = await metadata.quarantine(target, value);
      if (value) {
        const shas = new Set<string>();
        for (const item of result.affected) {
          shas.add(item.sha256);
          for (const thumb of await metadata.getThumbnails(item.origin, item.mediaId)) {
            shas.add(thumb.sha256);
          }
        }
        await purgeCaches(shas);
      }
      if (quarantineChannel.hasSubscribers) {
        quarantineChannel.publish({ target, value, affected: result.affected });
      }
      return { affected: result.affected.length };
    },

    async delete(origin, mediaId) {
      checkIds(origin, mediaId);
      const deleted = await metadata.deleteMedia(origin, mediaId);
      if (!deleted) return false;
      const { media, thumbnails } = deleted;
      await purgeCaches([media.sha256, ...thumbnails.map((t) => t.sha256)]);
      const stillUsed = await metadata.getMediaBySha256(media.sha256);
      if (stillUsed.length === 0) {
        await deleteBlobIfUnused(byId(media.datastoreId), media.location, media.sha256);
        // Thumbnail bytes are derived from the source bytes, so media sharing the source
        // shares them too; a thumbnail blob that vanishes anyway is regenerated on demand.
        for (const thumb of thumbnails) {
          await deleteBlobIfUnused(byId(thumb.datastoreId), thumb.location, thumb.sha256);
        }
      }
      return true;
    },

    async purgeRemote(before) {
      let deleted = 0;
      for (;;) {
        const batch = await metadata.listRemoteMediaAccessedBefore(before, { limit: 100 });
        if (batch.length === 0) break;
        let progress = 0;
        for (const record of batch) {
          if (await repo.delete(record.origin, record.mediaId)) progress++;
        }
        deleted += progress;
        if (batch.length < 100 || progress === 0) break;
      }
      return { deleted };
    },

    async whenIdle() {
      while (background.size > 0) await Promise.all([...background]);
    },

    sweepExpired,

    async close() {
      if (touchTimer) clearInterval(touchTimer);
      if (sweepTimer) clearInterval(sweepTimer);
      await repo.whenIdle();
      await flushTouches();
    },
  };
  return repo;
}
