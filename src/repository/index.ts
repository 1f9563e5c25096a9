/**
 * The media repository: upload, download, thumbnail, preview, quarantine and purge flows
 * composed from a datastore, a metadata store, a cache, a thumbnailer and a preview fetcher.
 * Re-exported from the package root.
 *
 * @module
 */
export { createMediaRepository } from "./repository.js";
export { DEFAULT_REPOSITORY_LIMITS } from "./options.js";
export { DEFAULT_REMOTE_MEDIA_OPTIONS } from "./remote-options.js";
export { blobCacheKey } from "./blobs.js";
export type * from "./types.js";
export type * from "./admin-types.js";
