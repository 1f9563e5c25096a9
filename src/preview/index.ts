/**
 * URL previews and the SSRF guard every outbound request of the kit goes through.
 *
 * - {@link createSafeFetch}: undici-based fetch that checks every resolved address in the
 *   connect path, dials exactly the checked address, re-checks every redirect hop, and
 *   enforces one overall deadline and a byte cap counted on the wire.
 * - {@link createPreviewFetcher}: the `preview_url` engine: content-type allowlist, streaming
 *   HTML extraction (OpenGraph, Twitter cards, fallbacks), charset detection, oEmbed, and the
 *   og:image downloaded through the same guard with its dimensions.
 * - CIDR helpers ({@link DEFAULT_DENY_RANGES}, {@link isAddressAllowed}, {@link createAddressPolicy})
 *   for other code that needs the same policy.
 *
 * This entry point never loads sharp, ioredis, pg or the AWS SDK.
 *
 * @example
 * ```ts
 * import { createSafeFetch, createPreviewFetcher } from "matrix-media-kit/preview";
 * const safeFetch = createSafeFetch();
 * const previews = createPreviewFetcher({ fetch: safeFetch });
 * const { og } = await previews.preview("https://matrix.org/");
 * ```
 *
 * @module
 */
export {
  DEFAULT_DENY_RANGES,
  createAddressPolicy,
  isAddressAllowed,
  parseCidr,
  parseIpAddress,
} from "./address.js";
export type { AddressPolicy, AddressPolicyOptions, CidrRange } from "./address.js";
export { createSafeFetch } from "./safe-fetch.js";
export { DEFAULT_SAFE_FETCH_OPTIONS } from "./safe-fetch-options.js";
export type {
  ResolvedAddress,
  Resolver,
  SafeFetch,
  SafeFetchInit,
  SafeFetchOptions,
  SafeResponse,
} from "./safe-fetch-options.js";
export { SAFE_FETCH_REFUSED_CHANNEL, SafeFetchError } from "./safe-fetch-error.js";
export type { SafeFetchFailure } from "./safe-fetch-error.js";
export { SAFE_FETCH_DIAL_CHANNEL } from "./connect-guard.js";
export { PREVIEW_CHANNEL, createPreviewFetcher } from "./fetcher.js";
export { DEFAULT_PREVIEW_OPTIONS } from "./fetcher-options.js";
export type { OEmbedOptions, OEmbedProvider, PreviewFetcherOptions } from "./fetcher-options.js";
export type {
  PreviewFetcher,
  PreviewImage,
  PreviewOptions,
  PreviewResult,
} from "./preview-types.js";
export { PREVIEW_BUCKET_MS, memoryPreviewCache, previewBucket } from "./cache.js";
export type { PreviewCache, PreviewCacheKey, PreviewCacheValue } from "./cache.js";
export { compileUrlBlocklist } from "./blocklist.js";
export type { UrlBlocklist, UrlBlocklistRule, UrlComponent } from "./blocklist.js";
export { createHtmlExtractor } from "./html.js";
export { extractHtmlMetadata } from "./page.js";
export type { HtmlExtractor, HtmlExtractorOptions, HtmlMetadata } from "./html.js";
export { detectCharset } from "./charset.js";
export { readImageInfo } from "./image-size.js";
export type { ImageInfo } from "./image-size.js";
export { MediaError } from "../errors.js";
export type { MatrixErrcode, MediaErrorOptions } from "../errors.js";
