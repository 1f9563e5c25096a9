/**
 * `mxc://` URIs and the media kinds the kit stores.
 *
 * @module
 */
import { MediaError } from "./errors.js";
import { isValidMediaId, isValidServerName } from "./ids/validate.js";

/** A parsed `mxc://{origin}/{mediaId}` URI. */
export interface MxcUri {
  /** The server name that owns the media. */
  origin: string;
  /** The media ID, `^[A-Za-z0-9_-]+$`. */
  mediaId: string;
}

/**
 * What a blob is: an upload of ours, a copy of remote media, a thumbnail, a URL preview
 * image, or an export. Datastores can be chosen per kind (see `routeByKind`).
 */
export type MediaKind = "local" | "remote" | "thumbnail" | "preview" | "archive";

/** Every {@link MediaKind}. */
export const MEDIA_KINDS: readonly MediaKind[] = [
  "local",
  "remote",
  "thumbnail",
  "preview",
  "archive",
];

/**
 * Parses an `mxc://` URI, validating the server name and media ID.
 *
 * @throws {@link MediaError} `M_INVALID_PARAM` when the URI is malformed.
 * @example
 * ```ts
 * parseMxc("mxc://example.org/abc123"); // { origin: "example.org", mediaId: "abc123" }
 * ```
 */
export function parseMxc(uri: string): MxcUri {
  const match = /^mxc:\/\/([^/]+)\/([^/]+)$/.exec(uri);
  if (!match || !isValidServerName(match[1]!) || !isValidMediaId(match[2]!)) {
    throw new MediaError(
      "M_INVALID_PARAM",
      `Invalid mxc URI: ${JSON.stringify(uri.slice(0, 300))}`,
    );
  }
  return { origin: match[1]!, mediaId: match[2]! };
}

/**
 * Formats an `mxc://` URI, validating both parts.
 *
 * @example
 * ```ts
 * formatMxc({ origin: "example.org", mediaId: "abc123" }); // "mxc://example.org/abc123"
 * ```
 */
export function formatMxc(mxc: MxcUri): string {
  if (!isValidServerName(mxc.origin) || !isValidMediaId(mxc.mediaId)) {
    throw new MediaError("M_INVALID_PARAM", "Invalid server name or media ID for an mxc URI");
  }
  return `mxc://${mxc.origin}/${mxc.mediaId}`;
}
