// URL previews: the public fetcher. It validates the URL, coalesces concurrent previews of a
// key, consults the cache, and publishes one diagnostics message per call; assemble.ts builds.
import { channel } from "node:diagnostics_channel";
import { MediaError } from "../errors.js";
import { abortable } from "../internal/abortable.js";
import { createSingleFlight } from "../internal/single-flight.js";
import { buildPreview } from "./assemble.js";
import { cacheId, previewBucket, readCachedPreview, writeCachedPreview } from "./cache.js";
import type { PreviewCacheKey } from "./cache.js";
import { resolveFetcherOptions } from "./fetcher-options.js";
import type { FetcherSettings, PreviewFetcherOptions } from "./fetcher-options.js";
import type { PreviewFetcher, PreviewOptions, PreviewResult } from "./preview-types.js";
import { parsePreviewUrl } from "./url.js";

/**
 * Diagnostics channel: one message per `preview()` call, `{ host, cached, durationMs, errcode? }`.
 * Only the host is published: paths and queries may carry secrets.
 */
export const PREVIEW_CHANNEL = "matrix-media-kit:preview";
const previewChannel = channel(PREVIEW_CHANNEL);

function publish(promise: Promise<PreviewResult>, host: string): void {
  const started = performance.now();
  promise.then(
    (r) =>
      previewChannel.publish({ host, cached: r.cached, durationMs: performance.now() - started }),
    (e: unknown) =>
      previewChannel.publish({
        host,
        cached: false,
        durationMs: performance.now() - started,
        errcode: MediaError.is(e) ? e.errcode : "M_UNKNOWN",
      }),
  );
}

/** The cache key of a call, after validating the URL, the language and `ts`. */
function previewKey(
  settings: FetcherSettings,
  input: string,
  callOptions: PreviewOptions,
): { url: URL; key: PreviewCacheKey } {
  const url = parsePreviewUrl(input);
  url.hash = "";
  if (settings.blocklist.isBlocked(url)) {
    throw new MediaError("M_FORBIDDEN", "URL blocked by the preview blocklist");
  }
  const language = callOptions.language ?? settings.acceptLanguage;
  if (typeof language !== "string" || /[\r\n]/.test(language)) {
    throw new MediaError("M_INVALID_PARAM", "Invalid language");
  }
  const ts = callOptions.ts ?? settings.now();
  if (!Number.isFinite(ts)) throw new MediaError("M_INVALID_PARAM", "Invalid ts");
  return { url, key: { url: url.href, bucket: previewBucket(ts), language } };
}

/** A cached preview, or a fresh one (result or MediaError) written to the cache. */
async function cachedOrBuilt(
  settings: FetcherSettings,
  url: URL,
  key: PreviewCacheKey,
): Promise<PreviewResult> {
  const { cache } = settings;
  if (cache === undefined) return buildPreview(settings, url, key.language);
  const hit = await readCachedPreview(cache, key, settings.now());
  if (hit) return { og: hit, cached: true };
  let result: PreviewResult;
  try {
    result = await buildPreview(settings, url, key.language);
  } catch (error) {
    if (MediaError.is(error)) {
      await writeCachedPreview(cache, key, { error }, settings.now() + settings.errorTtlMs);
    }
    throw error;
  }
  await writeCachedPreview(cache, key, { og: result.og }, settings.now() + settings.ttlMs);
  return result;
}

/**
 * Creates the URL preview fetcher behind `GET /_matrix/client/v1/media/preview_url`.
 * Every request (page, oEmbed endpoint, og:image) goes through `fetch`, the SSRF guard.
 * Invalid options throw a `ConfigError`.
 *
 * @example
 * ```ts
 * import { createSafeFetch, createPreviewFetcher, memoryPreviewCache } from "matrix-media-kit/preview";
 * const fetcher = createPreviewFetcher({
 *   fetch: createSafeFetch(),
 *   cache: memoryPreviewCache({ maxEntries: 10_000 }),
 *   urlBlocklist: [{ hostname: "*.corp.example" }],
 * });
 * const { og, image } = await fetcher.preview("https://matrix.org/", { ts: Date.now() });
 * console.log(og["og:title"], image?.width);
 * ```
 */
export function createPreviewFetcher(options: PreviewFetcherOptions = {}): PreviewFetcher {
  const settings = resolveFetcherOptions(options);
  const flights = createSingleFlight<PreviewResult>();
  return {
    async close(): Promise<void> {
      if (settings.ownFetch) await settings.fetch.close();
    },
    async preview(input: string, callOptions: PreviewOptions = {}): Promise<PreviewResult> {
      const { url, key } = previewKey(settings, input, callOptions);
      const promise = flights.run(cacheId(key), () => cachedOrBuilt(settings, url, key));
      if (previewChannel.hasSubscribers) publish(promise, url.host);
      return callOptions.signal ? abortable(promise, callOptions.signal) : promise;
    },
  };
}
