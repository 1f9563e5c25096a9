/**
 * matrix-media-kit: composable primitives for Matrix media repositories. The root entry
 * holds the error type, `mxc://` helpers and (with the repository) `createMediaRepository`;
 * each primitive has its own subpath (`matrix-media-kit/ids`, `/datastore`, `/cache`, ...).
 *
 * @module
 */
export { ConfigError, MediaError } from "./errors.js";
export type { MatrixErrcode, MediaErrorOptions } from "./errors.js";
export { parseMxc, formatMxc, MEDIA_KINDS } from "./mxc.js";
export type { MxcUri, MediaKind } from "./mxc.js";
export * from "./repository/index.js";
// Types the repository's signatures name, so the root describes itself without a subpath.
export type * from "./datastore/types.js";
export type { ByteRange, RoutedPutResult } from "./datastore/index.js";
export type * from "./metadata/types.js";
export type * from "./cache/types.js";
export type { ThumbnailContentType } from "./thumbnail/index.js";
export type * from "./coordination/types.js";
