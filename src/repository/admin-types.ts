import type {
  CountedPage,
  UploaderMediaQuery,
  UserMediaStatistics,
  UserMediaStatisticsQuery,
} from "../metadata/admin.js";
import type { MediaRecord } from "../metadata/types.js";
import type { MxcUri } from "../mxc.js";

/** What a bulk delete removed. */
export interface BulkDeleteResult {
  /** Every media deleted, in the order it was. */
  deleted: MxcUri[];
}

/** Options of {@link MediaAdmin.expireLocal}. */
export interface ExpireLocalMediaOptions {
  /** Local media last accessed before this instant (ms since the epoch) goes. */
  before: number;
  /** Only media of more bytes than this. @defaultValue 0 */
  sizeGt?: number | undefined;
  /**
   * Of each page of candidates, returns those to keep (e.g. avatars: the repository does not
   * know profiles or rooms). Without it every candidate is deleted.
   */
  keep?: ((candidates: readonly MxcUri[]) => Promise<readonly MxcUri[]>) | undefined;
  /** Stops before the next record once fired; what was deleted stays deleted. */
  signal?: AbortSignal | undefined;
}

/**
 * The operator's side of a repository (what the Synapse admin API is served from). Bulk
 * deletes go record by record, in pages: each record is deleted before its blobs, which go
 * only when no other record has the same bytes, so stopping mid-way never leaves a record
 * without its bytes, and the same call again continues.
 *
 * @example
 * ```ts
 * const info = await repo.admin.info("example.org", "abc123");
 * await repo.admin.setProtected("example.org", "abc123", true);
 * const page = await repo.admin.listByUploader("@alice:example.org", { limit: 50 });
 * const { deleted } = await repo.admin.expireLocal({ before: Date.now() - 90 * 86_400_000 });
 * ```
 */
export interface MediaAdmin {
  /** The record, quarantined or not; `M_NOT_FOUND` when there is none. */
  info(origin: string, mediaId: string): Promise<MediaRecord>;
  /** Protects media from quarantine and expiry (or lifts that); `M_NOT_FOUND` when missing. */
  setProtected(origin: string, mediaId: string, value: boolean): Promise<void>;
  /** A page of a user's media by offset, with their total. */
  listByUploader(uploader: string, query?: UploaderMediaQuery): Promise<CountedPage<MediaRecord>>;
  /** Local media per user. */
  statistics(query?: UserMediaStatisticsQuery): Promise<CountedPage<UserMediaStatistics>>;
  /** Deletes each media (missing ones are skipped) with its thumbnails and unused blobs. */
  deleteMany(
    mxcs: Iterable<MxcUri>,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<BulkDeleteResult>;
  /** Deletes local media not accessed since `before` (protected and quarantined media stay). */
  expireLocal(options: ExpireLocalMediaOptions): Promise<BulkDeleteResult>;
  /**
   * Every record of a user, newest first, read a page at a time on a stable cursor (media
   * uploaded meanwhile may be missed, none is listed twice).
   */
  uploads(uploader: string): AsyncIterable<MediaRecord>;
}
