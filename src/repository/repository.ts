import { createMediaAdmin } from "./admin.js";
import { createRepositoryContext } from "./context.js";
import { lookup, read } from "./download.js";
import { upload } from "./ingest.js";
import {
  deleteMedia,
  flushTouches,
  purgeRemote,
  quarantine,
  startMaintenance,
  sweepExpired,
} from "./maintenance.js";
import { checkPending, createPending, uploadPending } from "./pending.js";
import { preview } from "./previews.js";
import { thumbnailFor, thumbnailRequest } from "./thumbnails.js";
import { updateLiveLimits } from "./options.js";
import type { MediaRepository, MediaRepositoryOptions } from "./types.js";

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
 * - With `remote`, media of other servers that is not stored is fetched from
 *   `remote.source` once for every process sharing `remote.coordinator`, stored as
 *   `kind: "remote"` and thumbnailed locally (see `RemoteMediaOptions`).
 * - A download of an asynchronous upload that is not there yet waits for it; with a shared
 *   `coordinator` the upload's completion wakes it in every process.
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
  const ctx = createRepositoryContext(options);
  const stopMaintenance = startMaintenance(ctx);
  return {
    serverNames: ctx.serverNames,
    limits: ctx.limits,
    isLocal: (origin) => ctx.localNames.has(origin),
    upload: (source, opts) => upload(ctx, source, opts),
    createPending: (uploader, opts) => createPending(ctx, uploader, opts),
    usage: (userId) => ctx.metadata.getUsage(userId),
    checkPending: (origin, mediaId, uploader) => checkPending(ctx, origin, mediaId, uploader),
    uploadPending: (origin, mediaId, source, opts) =>
      uploadPending(ctx, origin, mediaId, source, opts),
    lookup: (origin, mediaId, opts) => lookup(ctx, origin, mediaId, opts),
    read: (record, opts) => read(ctx, record, opts),
    async download(origin, mediaId, opts = {}) {
      const record = await lookup(ctx, origin, mediaId, opts);
      return { record, body: await read(ctx, record, opts) };
    },
    async thumbnail(origin, mediaId, opts) {
      // The parameters are refused before any metadata is read.
      const want = thumbnailRequest(opts);
      const record = await lookup(ctx, origin, mediaId, opts);
      return thumbnailFor(ctx, record, want);
    },
    preview: (url, opts) => preview(ctx, url, opts),
    config: () => ({ "m.upload.size": ctx.limits.maxUploadBytes }),
    updateLimits: (patch) => updateLiveLimits(ctx.limits, patch),
    quarantine: (target, value) => quarantine(ctx, target, value),
    delete: (origin, mediaId) => deleteMedia(ctx, origin, mediaId),
    purgeRemote: (before) => purgeRemote(ctx, before),
    admin: createMediaAdmin(ctx),
    sweepExpired: () => sweepExpired(ctx),
    whenIdle: () => ctx.background.idle(),
    async close() {
      stopMaintenance();
      await ctx.background.idle();
      await flushTouches(ctx);
      if (ctx.ownsCoordinator) await ctx.coordinator.close();
    },
  };
}
