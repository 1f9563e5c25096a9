// The options of the preview fetcher and their validation into settings.
import { compileUrlBlocklist } from "./blocklist.js";
import type { UrlBlocklist, UrlBlocklistRule } from "./blocklist.js";
import type { PreviewCache } from "./cache.js";
import { headerOption, integerOption, optionError } from "./options.js";
import type { PreviewImage } from "./preview-types.js";
import { createSafeFetch } from "./safe-fetch.js";
import type { SafeFetch } from "./safe-fetch-options.js";

/** An oEmbed provider: URLs matching one of `schemes` are previewed through `endpoint`. */
export interface OEmbedProvider {
  /**
   * The provider's JSON endpoint, e.g. `https://www.youtube.com/oembed`; a `{format}`
   * placeholder (`https://vimeo.com/api/oembed.{format}`) is replaced by `json`.
   */
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

/** An oEmbed provider with its schemes compiled. @internal */
export interface CompiledProvider {
  /** The endpoint with `{format}` already replaced by `json`. */
  endpoint: URL;
  schemes: RegExp[];
}

/** The validated options of one fetcher. @internal */
export interface FetcherSettings {
  fetch: SafeFetch;
  /** True when the fetcher created `fetch` and so closes it. */
  ownFetch: boolean;
  maxPageBytes: number;
  maxImageBytes: number;
  acceptLanguage: string;
  oEmbedMaxBytes: number;
  discovery: boolean;
  providers: CompiledProvider[];
  blocklist: UrlBlocklist;
  /** The blocklist as the guard's `allowUrl`, so it holds on every redirect hop too. */
  allowUrl: (url: URL) => boolean;
  cache: PreviewCache | undefined;
  ttlMs: number;
  errorTtlMs: number;
  storeImage: PreviewFetcherOptions["storeImage"];
  now: () => number;
}

const OWNER = "createPreviewFetcher";

function globMatcher(glob: string): RegExp {
  const source = glob
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`, "is");
}

/**
 * The endpoint as a URL. Provider lists (oembed.com's providers.json) write endpoints in
 * three forms: a plain URL (`https://www.youtube.com/oembed`), one with a query already
 * (`…/oembed?iframe=1`), and one with a `{format}` placeholder in the path or the query
 * (`https://vimeo.com/api/oembed.{format}`, `…/oembed?format={format}`). The placeholder is
 * replaced by `json` before parsing: parsed first, it would be percent-encoded and sent as is.
 */
function compileProvider(provider: OEmbedProvider, i: number): CompiledProvider {
  const option = `oEmbed.providers[${i}]`;
  const raw = provider.endpoint;
  let endpoint: URL;
  try {
    endpoint = new URL(String(raw).replaceAll("{format}", "json"));
  } catch (error) {
    throw optionError(OWNER, `${option}.endpoint`, "an absolute URL", raw, error);
  }
  if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") {
    throw optionError(OWNER, `${option}.endpoint`, "an http(s) URL", raw);
  }
  // A glob host or another placeholder names no server to ask: refuse it here, not at request time.
  if (/[*{}]|%7B|%7D/i.test(endpoint.host + endpoint.pathname)) {
    throw optionError(OWNER, `${option}.endpoint`, "a URL without wildcards or placeholders", raw);
  }
  if (!Array.isArray(provider.schemes)) {
    throw optionError(OWNER, `${option}.schemes`, "an array of URL globs", provider.schemes);
  }
  return { endpoint, schemes: provider.schemes.map(globMatcher) };
}

/** Validates {@link PreviewFetcherOptions}; every refusal is a `ConfigError`. @internal */
export function resolveFetcherOptions(options: PreviewFetcherOptions): FetcherSettings {
  const defaults = DEFAULT_PREVIEW_OPTIONS;
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw optionError(OWNER, "fetch", "a SafeFetch function", options.fetch);
  }
  const integer = (name: string, value: unknown, fallback: number): number =>
    integerOption(OWNER, name, value, fallback);
  const settings = {
    maxPageBytes: integer("maxPageBytes", options.maxPageBytes, defaults.maxPageBytes),
    maxImageBytes: integer("maxImageBytes", options.maxImageBytes, defaults.maxImageBytes),
    ttlMs: integer("ttlMs", options.ttlMs, defaults.ttlMs),
    errorTtlMs: integer("errorTtlMs", options.errorTtlMs, defaults.errorTtlMs),
    acceptLanguage: headerOption(
      OWNER,
      "acceptLanguage",
      options.acceptLanguage,
      defaults.acceptLanguage,
    ),
    oEmbedMaxBytes: integer("oEmbed.maxBytes", options.oEmbed?.maxBytes, defaults.oEmbedMaxBytes),
    discovery: options.oEmbed?.discovery ?? true,
    providers: (options.oEmbed?.providers ?? []).map(compileProvider),
    blocklist: compileUrlBlocklist(options.urlBlocklist ?? []),
    cache: options.cache,
    storeImage: options.storeImage,
    now: options.now ?? Date.now,
  };
  const { blocklist } = settings;
  return {
    ...settings,
    fetch: options.fetch ?? createSafeFetch(),
    ownFetch: options.fetch === undefined,
    allowUrl: (url: URL): boolean => !blocklist.isBlocked(url),
  };
}
