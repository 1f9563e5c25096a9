// One preview, uncached: the provider's oEmbed or the page (HTML, or an image linked
// directly), then the og:image, whose real type, size and dimensions replace the page's claims.
import { MediaError } from "../errors.js";
import type { FetcherSettings } from "./fetcher-options.js";
import { dataUrlLength } from "./html.js";
import { downloadImage } from "./image.js";
import { fetchOEmbed, providerEndpoint } from "./oembed.js";
import { readHtml } from "./page.js";
import type { PreviewImage, PreviewResult } from "./preview-types.js";
import {
  HTML_TYPES,
  IMAGE_TYPES,
  encoded,
  mimeOf,
  requestHeaders,
  unsupported,
  upstreamStatus,
} from "./responses.js";

type Og = Record<string, string | number>;

const MAX_VALUE_LENGTH = 1000;

const PAGE_ACCEPT = "text/html,application/xhtml+xml,image/*;q=0.9,*/*;q=0.5";

/** The page itself: its og keys (plus discovered oEmbed), or the image it is. */
async function fetchPage(
  settings: FetcherSettings,
  url: URL,
  language: string,
): Promise<{ og: Og; image?: PreviewImage }> {
  const res = await settings.fetch(url, {
    headers: requestHeaders(PAGE_ACCEPT, language),
    maxBytes: settings.maxPageBytes,
    allowUrl: settings.allowUrl,
  });
  if (res.status < 200 || res.status >= 300) throw upstreamStatus(res);
  const mime = mimeOf(res);
  if (encoded(res)) throw unsupported(res);
  if (HTML_TYPES.has(mime)) {
    const page = await readHtml(res, {
      maxDataUrlLength: dataUrlLength(settings.maxImageBytes),
    });
    const og: Og = page.og;
    if (settings.discovery && page.oEmbedUrl !== undefined) {
      const fromOEmbed = await fetchOEmbed(settings, page.oEmbedUrl, language, url.href);
      for (const [k, v] of Object.entries(fromOEmbed ?? {})) og[k] ??= v;
    }
    return { og };
  }
  if (IMAGE_TYPES.has(mime)) {
    const image = await downloadImage(settings, res.url, settings.maxPageBytes, res);
    if (!image)
      throw new MediaError("M_UNKNOWN", "The URL's image could not be read", { status: 502 });
    return { og: { "og:image": res.url }, image };
  }
  throw unsupported(res);
}

/** Builds the preview of `url` (already checked against the blocklist). @internal */
export async function buildPreview(
  settings: FetcherSettings,
  url: URL,
  language: string,
): Promise<PreviewResult> {
  const endpoint = providerEndpoint(settings.providers, url);
  let og =
    endpoint === undefined ? undefined : await fetchOEmbed(settings, endpoint, language, url.href);
  let image: PreviewImage | undefined;
  if (og === undefined) ({ og, image } = await fetchPage(settings, url, language));
  if (image === undefined && typeof og["og:image"] === "string") {
    image = await downloadImage(settings, og["og:image"], settings.maxImageBytes);
  }
  // The page's own claims about its image are replaced by what was downloaded, or dropped.
  for (const key of Object.keys(og)) if (key.startsWith("og:image")) delete og[key];
  if (image) {
    og["og:image"] = image.url;
    og["og:image:type"] = image.contentType;
    og["og:image:width"] = image.width;
    og["og:image:height"] = image.height;
    og["matrix:image:size"] = image.size;
    if (settings.storeImage) {
      og["og:image"] = await settings.storeImage(image, { url: url.href });
      return { og, cached: false };
    }
    // A data: image has no URL a client could fetch: only its bytes (in `image`) stand for it.
    if (/^data:/i.test(image.url)) delete og["og:image"];
  }
  // Overlong values are dropped, never cut: a cut URL or sentence says something else.
  for (const [k, v] of Object.entries(og)) {
    if (typeof v === "string" && v.length > MAX_VALUE_LENGTH) delete og[k];
  }
  return image ? { og, image, cached: false } : { og, cached: false };
}
