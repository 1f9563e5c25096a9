// The public seam of remote media: where the repository gets bytes of other servers' media
// (the federation client, adapted by the embedder), and how it fetches them.
import type { Coordinator } from "../coordination/types.js";

/** Options the repository passes to {@link RemoteMediaSource.download}. */
export interface RemoteDownloadOptions {
  /** Aborts at the fetch deadline, or when this process loses the fetch lock. */
  signal: AbortSignal;
  /** The whole fetch's budget (headers and body), in ms. */
  timeoutMs: number;
  /** Most bytes the repository will store; a source may refuse a larger declared size early. */
  maxBytes: number;
}

/** A remote media body as the source returns it: metadata, then a stream of the bytes. */
export interface RemoteMedia {
  /** The remote's `Content-Type`; sanitised before it is stored (sniffed when absent). */
  contentType?: string | undefined;
  /** The remote's file name (`Content-Disposition`); sanitised before it is stored. */
  filename?: string | undefined;
  /** The declared size; over `maxBytes` it is refused before a byte is read. */
  contentLength?: number | undefined;
  /** The bytes. The repository stops reading (and calls `return()`) on a failure. */
  stream: AsyncIterable<Uint8Array>;
}

/**
 * Where the repository gets the bytes of media of other servers. Implement it over the
 * federation client (`GET /_matrix/federation/v1/media/download/{mediaId}`), a proxy, or a
 * fixture. Errors are `MediaError`s: `404 M_NOT_FOUND` when the remote has no such media
 * (cached for `notFoundTtlMs`), `502 M_TOO_LARGE` over the size limit, `502`/`504` for an
 * unreachable or failing remote (the origin is then backed off). Any other thrown error counts
 * as an unreachable remote.
 *
 * @example
 * ```ts
 * import { Readable } from "node:stream";
 * import { MediaError } from "matrix-media-kit";
 * import type { RemoteMediaSource } from "matrix-media-kit";
 *
 * const source: RemoteMediaSource = {
 *   async download(origin, mediaId, { signal }) {
 *     const res = await fetch(`https://media-proxy.internal/${origin}/${mediaId}`, { signal });
 *     if (res.status === 404) throw new MediaError("M_NOT_FOUND", "Media not found");
 *     if (!res.ok || !res.body) throw new MediaError("M_UNKNOWN", `Proxy answered ${res.status}`, { status: 502 });
 *     const length = res.headers.get("content-length");
 *     return {
 *       contentType: res.headers.get("content-type") ?? undefined,
 *       contentLength: length === null ? undefined : Number(length),
 *       stream: Readable.fromWeb(res.body),
 *     };
 *   },
 * };
 * ```
 */
export interface RemoteMediaSource {
  download(origin: string, mediaId: string, options: RemoteDownloadOptions): Promise<RemoteMedia>;
}

/**
 * Remote media (`MediaRepositoryOptions.remote`): without it, media of other servers that is
 * not stored is `404 M_NOT_FOUND`. With it, a lookup miss fetches the media once for every
 * process of the deployment (a lock on the coordinator), stores it as `kind: "remote"` and
 * serves it. Every field but `source` has a default in `DEFAULT_REMOTE_MEDIA_OPTIONS`.
 *
 * @example
 * ```ts
 * import { memoryCoordinator } from "matrix-media-kit/coordination";
 * createMediaRepository({
 *   ...options,
 *   remote: { source, coordinator: memoryCoordinator(), timeoutMs: 30_000 },
 * });
 * ```
 */
export interface RemoteMediaOptions {
  /** Where the bytes come from. */
  source: RemoteMediaSource;
  /**
   * Who fetches: give the same shared coordinator (Redis, PostgreSQL) to every process so a
   * media is fetched once per deployment.
   * @defaultValue the repository's `coordinator` (a `memoryCoordinator()` of this
   * repository when that is not given: once per process)
   */
  coordinator?: Coordinator;
  /**
   * Largest remote media stored; larger is `502 M_TOO_LARGE`, checked on the declared size
   * before reading and on the bytes counted while streaming.
   * @defaultValue `limits.maxUploadBytes`
   */
  maxBytes?: number;
  /**
   * Budget of one fetch (headers and body), 1–60 000 ms; past it the fetch is aborted and
   * the lookup answers `504 M_UNKNOWN`.
   * @defaultValue 20_000
   */
  timeoutMs?: number;
  /**
   * TTL of the fetch lock: a holder that dies blocks the others at most this long.
   * `memoryCoordinator()` does not renew locks, so keep it above `timeoutMs` with it.
   * @defaultValue 30_000
   */
  lockTtlMs?: number;
  /**
   * How long an origin that failed (unreachable, 5xx, timeout) is answered `502`/`504` at
   * once, without a network call; doubled on each further failure up to `maxFailureBackoffMs`,
   * cleared by a success.
   * @defaultValue 30_000
   */
  failureBackoffMs?: number;
  /**
   * Upper bound of the doubling backoff of a failing origin.
   * @defaultValue 600_000 (10 min)
   */
  maxFailureBackoffMs?: number;
  /**
   * Downloads from one origin at once in this process.
   * @defaultValue 8
   */
  maxConcurrentPerOrigin?: number;
  /**
   * Fetches of one origin waiting for a download slot in this process; past it a lookup is
   * refused with `503 M_LIMIT_EXCEEDED` and a retry time.
   * @defaultValue 64
   */
  maxQueuedPerOrigin?: number;
  /**
   * How long a remote `404` is remembered per media (answered without a network call).
   * @defaultValue 60_000
   */
  notFoundTtlMs?: number;
  /**
   * Bound of each remembered set (failing origins, missing media), least recently used out.
   * @defaultValue 10_000
   */
  maxRememberedEntries?: number;
}
