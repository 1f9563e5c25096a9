// oEmbed: the provider-list endpoint for a URL, and an oEmbed JSON answer turned into og keys.
// Endpoints are fetched through the same guard and blocklist as the page.
import type { CompiledProvider, FetcherSettings } from "./fetcher-options.js";
import { createHtmlExtractor } from "./html.js";
import { decodeEntities } from "./text.js";
import { JSON_TYPES, encoded, mimeOf, requestHeaders } from "./responses.js";
import type { SafeResponse } from "./safe-fetch-options.js";

type Og = Record<string, string | number>;

/** The endpoint to ask about `url`, when a provider's schemes match it. @internal */
export function providerEndpoint(
  providers: readonly CompiledProvider[],
  url: URL,
): string | undefined {
  const provider = providers.find((p) => p.schemes.some((re) => re.test(url.href)));
  if (!provider) return undefined;
  const endpoint = new URL(provider.endpoint);
  endpoint.searchParams.set("url", url.href);
  endpoint.searchParams.set("format", "json");
  return endpoint.href;
}

function shortString(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 && value.length <= 1000 ? value : undefined;
}

function absoluteHttp(value: string | undefined, base: string): string | undefined {
  if (value === undefined) return undefined;
  try {
    const abs = new URL(value, base);
    return abs.protocol === "http:" || abs.protocol === "https:" ? abs.href : undefined;
  } catch {
    // A broken image URL is left out.
    return undefined;
  }
}

/** The description and first `<img>` of an oEmbed `html` snippet. */
function fromSnippet(html: string, endpoint: string): { description?: string; image?: string } {
  const extractor = createHtmlExtractor({ url: endpoint });
  extractor.write(`<body>${html.slice(0, 64 * 1024)}`);
  const { og } = extractor.end();
  return { description: og["og:description"], image: og["og:image"] };
}

/**
 * og keys from an oEmbed JSON object: `endpoint` resolves relative URLs, `pageUrl` (the URL
 * previewed) becomes `og:url`.
 * @internal
 */
export function oEmbedToOg(o: Record<string, unknown>, endpoint: string, pageUrl: string): Og {
  const og: Og = { "og:url": pageUrl };
  const set = (key: string, value: string | undefined): void => {
    if (value !== undefined && og[key] === undefined) og[key] = value;
  };
  // Some providers (a common WordPress plug-in) send titles HTML-escaped.
  const title = shortString(o.title);
  const author = shortString(o.author_name);
  set("og:title", title === undefined ? undefined : shortString(decodeEntities(title)));
  set("og:title", author);
  set("og:site_name", shortString(o.provider_name));
  const type = shortString(o.type);
  set("og:type", type === "video" ? "video.other" : type === "photo" ? "photo" : "website");
  const image = type === "photo" ? shortString(o.url) : shortString(o.thumbnail_url);
  set("og:image", absoluteHttp(image, endpoint));
  if (typeof o.html === "string" && o.html.length > 0) {
    const snippet = fromSnippet(o.html, endpoint);
    set("og:description", snippet.description);
    // Rich and video answers without thumbnail_url: the snippet's first image.
    if (type !== "photo") set("og:image", snippet.image);
  }
  if (og["og:title"] !== author) set("og:description", author);
  return og;
}

/** The og keys of an oEmbed endpoint, or undefined when it is blocked or fails. @internal */
export async function fetchOEmbed(
  settings: FetcherSettings,
  endpoint: string,
  language: string,
  pageUrl: string,
): Promise<Og | undefined> {
  if (settings.blocklist.isBlocked(endpoint)) return undefined;
  let res: SafeResponse;
  try {
    res = await settings.fetch(endpoint, {
      headers: requestHeaders("application/json", language),
      maxBytes: settings.oEmbedMaxBytes,
      allowUrl: settings.allowUrl,
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
  return oEmbedToOg(body as Record<string, unknown>, endpoint, pageUrl);
}
