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
export {
  DEFAULT_SAFE_FETCH_OPTIONS,
  SAFE_FETCH_DIAL_CHANNEL,
  SAFE_FETCH_REFUSED_CHANNEL,
  SafeFetchError,
  createSafeFetch,
} from "./safe-fetch.js";
export type {
  ResolvedAddress,
  Resolver,
  SafeFetch,
  SafeFetchFailure,
  SafeFetchInit,
  SafeFetchOptions,
  SafeResponse,
} from "./safe-fetch.js";
export { DEFAULT_PREVIEW_OPTIONS, PREVIEW_CHANNEL, createPreviewFetcher } from "./fetcher.js";
export type {
  OEmbedOptions,
  OEmbedProvider,
  PreviewFetcher,
  PreviewFetcherOptions,
  PreviewImage,
  PreviewOptions,
  PreviewResult,
} from "./fetcher.js";
export {
  PREVIEW_BUCKET_MS,
  memoryPreviewCache,
  metadataPreviewCache,
  previewBucket,
} from "./cache.js";
export type { PreviewCache, PreviewCacheKey, PreviewCacheValue } from "./cache.js";
export { compileUrlBlocklist } from "./blocklist.js";
export type { UrlBlocklist, UrlBlocklistRule, UrlComponent } from "./blocklist.js";
export { createHtmlExtractor, extractHtmlMetadata } from "./html.js";
export type { HtmlExtractor, HtmlExtractorOptions, HtmlMetadata } from "./html.js";
export { detectCharset } from "./charset.js";
export { readImageInfo } from "./image-size.js";
export type { ImageInfo } from "./image-size.js";
