// URL previews: fetch through the guard, check the content type before reading, stream the
// HTML through the extractor, add oEmbed and the og:image (downloaded through the same guard).
import { channel } from "node:diagnostics_channel";
import { TextDecoder } from "node:util";
import { MediaError } from "../errors.js";
import { compileUrlBlocklist } from "./blocklist.js";
import type { UrlBlocklistRule } from "./blocklist.js";
import { previewBucket } from "./cache.js";
import type { PreviewCache, PreviewCacheKey } from "./cache.js";
import { detectCharset, CHARSET_SNIFF_BYTES } from "./charset.js";
import { createHtmlExtractor, truncateText, HTML_SLICE_BYTES } from "./html.js";
import { readImageInfo } from "./image-size.js";
import { createSafeFetch } from "./safe-fetch.js";
import type { SafeFetch, SafeResponse } from "./safe-fetch.js";

/** An oEmbed provider: URLs matching one of `schemes` are previewed through `endpoint`. */
export interface OEmbedProvider {
  /** The provider's JSON endpoint, e.g. `https://www.youtube.com/oembed`. */
  endpoint: string;
  /** URL globs (`*` matches anything), e.g. `https://*.youtube.com/watch*`. */
  schemes: readonly string[];
}

/** oEmbed settings of {@link createPreviewFetcher}. */
export interface OEmbedOptions {
  /**
   * Providers consulted before the page itself.
   * @defaultValue `[]`
   */
  providers?: readonly OEmbedProvider[];
  /**
   * Follow `<link rel="alternate" type="application/json+oembed">` found in pages.
   * @defaultValue true
   */
  discovery?: boolean;
  /**
   * Byte cap of an oEmbed response.
   * @defaultValue 1048576 (1 MiB)
   */
  maxBytes?: number;
}

/** The og:image bytes, for the repository to store as media of kind `preview`. */
export interface PreviewImage {
  data: Buffer;
  /** Sniffed from the bytes: `image/png`, `image/jpeg`, `image/gif` or `image/webp`. */
  contentType: string;
  width: number;
  height: number;
  size: number;
  /** Where the image was downloaded from (after redirects). */
  url: string;
}

/** A preview: the Matrix `preview_url` JSON plus the image bytes. */
export interface PreviewResult {
  /** `og:title`, `og:description`, `og:image`, `og:image:width`, `matrix:image:size`... */
  og: Record<string, string | number>;
  /** The downloaded og:image; absent on cache hits and when `storeImage` stored it. */
  image?: PreviewImage;
  /** True when the result came from the cache. */
  cached: boolean;
}

/** Options of {@link createPreviewFetcher}. */
export interface PreviewFetcherOptions {
  /**
   * The guarded fetch every request goes through (page, oEmbed, og:image).
   * @defaultValue `createSafeFetch()` with its defaults
   */
  fetch?: SafeFetch;
  /**
   * Byte cap of the page (and of a directly linked image).
   * @defaultValue 10485760 (10 MiB)
   */
  maxPageBytes?: number;
  /**
   * Byte cap of the og:image download.
   * @defaultValue 10485760 (10 MiB)
   */
  maxImageBytes?: number;
  /**
   * `Accept-Language` sent unless a call passes `language`.
   * @defaultValue "en"
   */
  acceptLanguage?: string;
  /** oEmbed providers and discovery. */
  oEmbed?: OEmbedOptions;
  /**
   * Rules refusing URLs (the page, oEmbed endpoints and og:image alike); see `compileUrlBlocklist`.
   * @defaultValue `[]`
   */
  urlBlocklist?: readonly UrlBlocklistRule[];
  /** Where previews are cached, keyed by URL + hour bucket + language. */
  cache?: PreviewCache;
  /**
   * How long a preview stays cached, in ms.
   * @defaultValue 86400000 (24 h)
   */
  ttlMs?: number;
  /**
   * How long a failed preview stays cached, in ms (so a failing URL is not hammered).
   * @defaultValue 60000
   */
  errorTtlMs?: number;
  /**
   * Stores the og:image and returns its `mxc://` URI, which replaces `og:image` before the
   * result is cached. Without it, `og:image` keeps the remote URL and `image` carries the bytes.
   */
  storeImage?: (image: PreviewImage, context: { url: string }) => Promise<string>;
  /**
   * The clock, in ms since the epoch.
   * @defaultValue Date.now
   */
  now?: () => number;
}

/**
 * Defaults of {@link PreviewFetcherOptions}.
 *
 * @example
 * ```ts
 * createPreviewFetcher({ maxPageBytes: DEFAULT_PREVIEW_OPTIONS.maxPageBytes / 2 });
 * ```
 */
export const DEFAULT_PREVIEW_OPTIONS = Object.freeze({
  /** @defaultValue 10 MiB */
  maxPageBytes: 10 * 1024 * 1024,
  /** @defaultValue 10 MiB */
  maxImageBytes: 10 * 1024 * 1024,
  /** @defaultValue "en" */
  acceptLanguage: "en",
  /** @defaultValue 24 h */
  ttlMs: 86_400_000,
  /** @defaultValue 60 s */
  errorTtlMs: 60_000,
  /** @defaultValue 1 MiB */
  oEmbedMaxBytes: 1024 * 1024,
});

/** Per-call options of {@link PreviewFetcher.preview}. */
export interface PreviewOptions {
  /** The time the preview is for (the `ts` query parameter), in ms. @defaultValue now() */
  ts?: number;
  /** `Accept-Language` for this call. @defaultValue the fetcher's `acceptLanguage` */
  language?: string;
  /**
   * Stops waiting: the call rejects with the signal's reason. The fetch itself (shared with
   * concurrent callers of the same key) still ends within the guard's deadline.
   */
  signal?: AbortSignal;
}

/** Produces previews. */
export interface PreviewFetcher {
  preview(url: string, options?: PreviewOptions): Promise<PreviewResult>;
  /** Closes the SafeFetch the fetcher created itself; an injected `fetch` is left open. */
  close(): Promise<void>;
}

/**
 * Diagnostics channel: one message per `preview()` call, `{ host, cached, durationMs, errcode? }`.
 * Only the host is published: paths and queries may carry secrets.
 */
export const PREVIEW_CHANNEL = "matrix-media-kit:preview";
const previewChannel = channel(PREVIEW_CHANNEL);

const HTML_TYPES = new Set(["text/html", "application/xhtml+xml"]);
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp"]);
const JSON_TYPES = new Set([
  "application/json",
  "application/json+oembed",
  "text/json",
  "text/javascript",
]);

function mimeOf(res: SafeResponse): string {
  const raw = res.headers["content-type"];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return (value ?? "").split(";")[0]!.trim().toLowerCase();
}

function contentTypeHeader(res: SafeResponse): string | undefined {
  const raw = res.headers["content-type"];
  return Array.isArray(raw) ? raw[0] : raw;
}

function globMatcher(glob: string): RegExp {
  const source = glob
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`, "is");
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new TypeError(
      `Expected an integer >= 1 for ${name} but received ${typeof value === "number" ? String(value) : typeof value === "string" ? `"${value}"` : typeof value}`,
    );
  }
  return value;
}

/** We ask for `identity`; a server that compresses anyway would defeat the wire byte cap. */
function encoded(res: SafeResponse): boolean {
  const raw = res.headers["content-encoding"];
  const value = (Array.isArray(raw) ? raw.join(",") : (raw ?? "")).trim().toLowerCase();
  return value !== "" && value !== "identity";
}

function upstreamStatus(res: SafeResponse): MediaError {
  res.cancel();
  return new MediaError("M_UNKNOWN", `The URL returned HTTP ${res.status}`, { status: 502 });
}

function unsupported(res: SafeResponse): MediaError {
  res.cancel();
  return new MediaError("M_UNKNOWN", "The URL's content type cannot be previewed", { status: 502 });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: Error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Creates the URL preview fetcher behind `GET /_matrix/client/v1/media/preview_url`.
 * Every request (page, oEmbed endpoint, og:image) goes through `fetch`, the SSRF guard.
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
  const ownFetch = options.fetch === undefined;
  const fetch = options.fetch ?? createSafeFetch();
  if (typeof fetch !== "function") throw new TypeError("Expected a SafeFetch function for fetch");
  const maxPageBytes = positive(
    "maxPageBytes",
    options.maxPageBytes,
    DEFAULT_PREVIEW_OPTIONS.maxPageBytes,
  );
  const maxImageBytes = positive(
    "maxImageBytes",
    options.maxImageBytes,
    DEFAULT_PREVIEW_OPTIONS.maxImageBytes,
  );
  const ttlMs = positive("ttlMs", options.ttlMs, DEFAULT_PREVIEW_OPTIONS.ttlMs);
  const errorTtlMs = positive("errorTtlMs", options.errorTtlMs, DEFAULT_PREVIEW_OPTIONS.errorTtlMs);
  const acceptLanguage = options.acceptLanguage ?? DEFAULT_PREVIEW_OPTIONS.acceptLanguage;
  if (typeof acceptLanguage !== "string" || /[\r\n]/.test(acceptLanguage)) {
    throw new TypeError("Expected a single-line string for acceptLanguage");
  }
  const oEmbedMaxBytes = positive(
    "oEmbed.maxBytes",
    options.oEmbed?.maxBytes,
    DEFAULT_PREVIEW_OPTIONS.oEmbedMaxBytes,
  );
  const discovery = options.oEmbed?.discovery ?? true;
  const providers = (options.oEmbed?.providers ?? []).map((p, i) => {
    try {
      const endpoint = new URL(p.endpoint);
      if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:")
        throw new Error("not http(s)");
      return { endpoint, schemes: p.schemes.map(globMatcher) };
    } catch (error) {
      throw new TypeError(`Invalid oEmbed.providers[${i}]: ${(error as Error).message}`, {
        cause: error,
      });
    }
  });
  const blocklist = compileUrlBlocklist(options.urlBlocklist ?? []);
  // Every hop of every request, redirects included, is held to the blocklist.
  const allowUrl = (u: URL): boolean => !blocklist.isBlocked(u);
  const cache = options.cache;
  const now = options.now ?? Date.now;
  const inFlight = new Map<string, Promise<PreviewResult>>();

  const blocked = (): MediaError =>
    new MediaError("M_FORBIDDEN", "URL blocked by the preview blocklist");

  async function fetchOEmbed(
    endpoint: string,
    language: string,
  ): Promise<Record<string, string | number> | undefined> {
    if (blocklist.isBlocked(endpoint)) return undefined;
    let res: SafeResponse;
    try {
      res = await fetch(endpoint, {
        headers: requestHeaders("application/json", language),
        maxBytes: oEmbedMaxBytes,
        allowUrl,
      });
    } catch {
      return undefined;
    }
    if (res.status !== 200 || !JSON_TYPES.has(mimeOf(res)) || encoded(res)) {
      res.cancel();
      return undefined;
    }
    let body: unknown;
    try {
      body = JSON.parse((await res.buffer()).toString("utf8"));
    } catch {
      return undefined;
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
    const o = body as Record<string, unknown>;
    const str = (v: unknown): string | undefined =>
      typeof v === "string" && v.length > 0 && v.length <= 1000 ? v : undefined;
    const og: Record<string, string | number> = {};
    const set = (key: string, value: string | undefined): void => {
      if (value !== undefined) og[key] = value;
    };
    set("og:title", str(o.title));
    set("og:site_name", str(o.provider_name));
    const type = str(o.type);
    set("og:type", type === "video" ? "video.other" : type === "photo" ? "photo" : "website");
    const image = type === "photo" ? str(o.url) : str(o.thumbnail_url);
    if (image) {
      try {
        const abs = new URL(image, endpoint);
        if (abs.protocol === "http:" || abs.protocol === "https:") set("og:image", abs.href);
      } catch {
        // A broken image URL is left out.
      }
    }
    if (typeof o.html === "string" && o.html.length > 0) {
      const extractor = createHtmlExtractor({ url: endpoint });
      extractor.write(`<body>${o.html.slice(0, 64 * 1024)}`);
      const description = extractor.end().og["og:description"];
      set("og:description", description);
    }
    if (og["og:description"] === undefined) set("og:description", str(o.author_name));
    return og;
  }

  function requestHeaders(accept: string, language: string): Record<string, string> {
    const headers: Record<string, string> = { accept };
    if (language !== "") headers["accept-language"] = language;
    return headers;
  }

  async function downloadImage(
    url: string,
    maxBytes: number,
    res?: SafeResponse,
  ): Promise<PreviewImage | undefined> {
    if (blocklist.isBlocked(url)) return undefined;
    let response = res;
    try {
      response ??= await fetch(url, { headers: { accept: "image/*" }, maxBytes, allowUrl });
    } catch {
      return undefined;
    }
    if (response.status !== 200 || !IMAGE_TYPES.has(mimeOf(response)) || encoded(response)) {
      response.cancel();
      return undefined;
    }
    let data: Buffer;
    try {
      data = await response.buffer();
    } catch {
      return undefined;
    }
    const info = readImageInfo(data);
    if (!info) return undefined;
    return {
      data,
      contentType: info.contentType,
      width: info.width,
      height: info.height,
      size: data.length,
      url: response.url,
    };
  }

  async function readHtml(
    res: SafeResponse,
  ): Promise<{ og: Record<string, string>; oEmbedUrl?: string }> {
    const extractor = createHtmlExtractor({ url: res.url });
    let decoder: TextDecoder | undefined;
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    const feed = (bytes: Buffer): void => {
      for (let i = 0; i < bytes.length && !extractor.done; i += HTML_SLICE_BYTES) {
        extractor.write(decoder!.decode(bytes.subarray(i, i + HTML_SLICE_BYTES), { stream: true }));
      }
    };
    const start = (): void => {
      const head = Buffer.concat(pending);
      decoder = new TextDecoder(detectCharset(head, contentTypeHeader(res)));
      feed(head);
    };
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (decoder === undefined) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= CHARSET_SNIFF_BYTES) start();
      } else {
        feed(chunk);
      }
      // Leaving the loop destroys the body: the rest of the page is never downloaded.
      if (extractor.done) break;
    }
    if (decoder === undefined) start();
    if (!extractor.done) extractor.write(decoder!.decode());
    return extractor.end();
  }

  async function build(url: URL, language: string): Promise<PreviewResult> {
    let og: Record<string, string | number> | undefined;
    const provider = providers.find((p) => p.schemes.some((re) => re.test(url.href)));
    if (provider) {
      const endpoint = new URL(provider.endpoint);
      endpoint.searchParams.set("url", url.href);
      endpoint.searchParams.set("format", "json");
      og = await fetchOEmbed(endpoint.href, language);
    }
    let image: PreviewImage | undefined;
    if (og === undefined) {
      const res = await fetch(url, {
        headers: requestHeaders(
          "text/html,application/xhtml+xml,image/*;q=0.9,*/*;q=0.5",
          language,
        ),
        maxBytes: maxPageBytes,
        allowUrl,
      });
      if (res.status < 200 || res.status >= 300) throw upstreamStatus(res);
      const mime = mimeOf(res);
      if (encoded(res)) throw unsupported(res);
      if (HTML_TYPES.has(mime)) {
        const page = await readHtml(res);
        og = page.og;
        if (discovery && page.oEmbedUrl !== undefined) {
          const fromOEmbed = await fetchOEmbed(page.oEmbedUrl, language);
          for (const [k, v] of Object.entries(fromOEmbed ?? {})) og[k] ??= v;
        }
      } else if (IMAGE_TYPES.has(mime)) {
        image = await downloadImage(res.url, maxPageBytes, res);
        if (!image)
          throw new MediaError("M_UNKNOWN", "The URL's image could not be read", { status: 502 });
        og = { "og:image": res.url };
      } else {
        throw unsupported(res);
      }
    }
    if (image === undefined && typeof og["og:image"] === "string") {
      image = await downloadImage(og["og:image"], maxImageBytes);
    }
    // The page's own claims about its image are replaced by what was downloaded, or dropped.
    for (const key of Object.keys(og)) if (key.startsWith("og:image")) delete og[key];
    if (image) {
      og["og:image"] = image.url;
      og["og:image:type"] = image.contentType;
      og["og:image:width"] = image.width;
      og["og:image:height"] = image.height;
      og["matrix:image:size"] = image.size;
      if (options.storeImage) {
        og["og:image"] = await options.storeImage(image, { url: url.href });
        return { og, cached: false };
      }
    }
    for (const [k, v] of Object.entries(og)) {
      if (typeof v === "string") og[k] = truncateText(v, 1000);
    }
    return image ? { og, image, cached: false } : { og, cached: false };
  }

  async function cacheGet(key: PreviewCacheKey): Promise<PreviewResult | undefined> {
    if (!cache) return undefined;
    let entry;
    try {
      entry = await cache.get(key);
    } catch {
      return undefined;
    }
    if (!entry || entry.expiresAt <= now()) return undefined;
    let parsed: {
      og?: Record<string, string | number>;
      error?: { errcode: string; error: string; status: number };
    };
    try {
      parsed = JSON.parse(entry.json) as typeof parsed;
    } catch {
      return undefined;
    }
    if (parsed.error) {
      throw new MediaError(parsed.error.errcode, parsed.error.error, {
        status: parsed.error.status,
      });
    }
    return parsed.og ? { og: parsed.og, cached: true } : undefined;
  }

  async function cacheSet(key: PreviewCacheKey, json: string, ttl: number): Promise<void> {
    if (!cache) return;
    try {
      await cache.set(key, { json, expiresAt: now() + ttl });
    } catch {
      // A cache that cannot store is a cache that misses.
    }
  }

  async function run(url: URL, key: PreviewCacheKey): Promise<PreviewResult> {
    const hit = await cacheGet(key);
    if (hit) return hit;
    let result: PreviewResult;
    try {
      result = await build(url, key.language);
    } catch (error) {
      if (MediaError.is(error)) {
        await cacheSet(
          key,
          JSON.stringify({
            error: { errcode: error.errcode, error: error.message, status: error.status },
          }),
          errorTtlMs,
        );
      }
      throw error;
    }
    await cacheSet(key, JSON.stringify({ og: result.og }), ttlMs);
    return result;
  }

  return {
    async close(): Promise<void> {
      if (ownFetch) await fetch.close();
    },
    async preview(input: string, callOptions: PreviewOptions = {}): Promise<PreviewResult> {
      let url: URL;
      try {
        url = new URL(input);
      } catch {
        throw new MediaError("M_INVALID_PARAM", "The url parameter is not a valid URL");
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new MediaError("M_INVALID_PARAM", "Only http and https URLs can be previewed");
      }
      url.hash = "";
      if (blocklist.isBlocked(url)) throw blocked();
      const language = callOptions.language ?? acceptLanguage;
      if (typeof language !== "string" || /[\r\n]/.test(language)) {
        throw new MediaError("M_INVALID_PARAM", "Invalid language");
      }
      const ts = callOptions.ts ?? now();
      if (!Number.isFinite(ts)) throw new MediaError("M_INVALID_PARAM", "Invalid ts");
      const key: PreviewCacheKey = { url: url.href, bucket: previewBucket(ts), language };
      const id = `${key.bucket}\u0000${key.language}\u0000${key.url}`;
      let promise = inFlight.get(id);
      if (!promise) {
        promise = run(url, key).finally(() => inFlight.delete(id));
        inFlight.set(id, promise);
      }
      if (previewChannel.hasSubscribers) {
        const started = performance.now();
        const host = url.host;
        promise.then(
          (r) =>
            previewChannel.publish({
              host,
              cached: r.cached,
              durationMs: performance.now() - started,
            }),
          (e: unknown) =>
            previewChannel.publish({
              host,
              cached: false,
              durationMs: performance.now() - started,
              errcode: MediaError.is(e) ? e.errcode : "M_UNKNOWN",
            }),
        );
      }
      return callOptions.signal ? abortable(promise, callOptions.signal) : promise;
    },
  };
}
