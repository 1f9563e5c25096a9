// The end of an extraction: fallbacks filled in (Twitter cards, <title>, meta description,
// body text, first <img>) and URL values resolved against <base href> or the page URL.
import { endParagraph } from "./html-state.js";
import type { ExtractorState } from "./html-state.js";
import { collapse, cutAtWord, summariseParagraphs } from "./text.js";

const URL_KEYS = new Set([
  "og:url",
  "og:image",
  "og:image:url",
  "og:image:secure_url",
  "og:video",
  "og:video:url",
  "og:video:secure_url",
  "og:audio",
  "og:audio:url",
  "og:audio:secure_url",
]);

// The image keys a `data:` image may stand in (decoded by the fetcher, never fetched).
const IMAGE_URL_KEYS = new Set(["og:image", "og:image:url", "og:image:secure_url"]);
const DATA_IMAGE = /^data:image\/(png|jpeg|jpg|gif|webp)[;,]/i;

function baseUrlOf(s: ExtractorState, pageUrl: string): string {
  if (s.base === undefined) return pageUrl;
  try {
    return new URL(s.base, pageUrl).href;
  } catch {
    // An invalid <base> is ignored, as browsers do.
    return pageUrl;
  }
}

/** An absolute http(s) URL no longer than `max`, or undefined. */
function resolveHttpUrl(value: string, baseUrl: string, max: number): string | undefined {
  try {
    const resolved = new URL(value, baseUrl);
    if (resolved.protocol !== "http:" && resolved.protocol !== "https:") return undefined;
    return resolved.href.length > max ? undefined : resolved.href;
  } catch {
    return undefined;
  }
}

function withFallbacks(s: ExtractorState): Record<string, string> {
  const { maxValueLength, summaryLength, summaryMinLength } = s.limits;
  const result: Record<string, string> = { ...s.og };
  // Lazy: a page with og:title never pays for shaping its <title>.
  const fill = (key: string, value: string | undefined | (() => string | undefined)): void => {
    if (result[key] !== undefined) return;
    const v = typeof value === "function" ? value() : value;
    if (v !== undefined && v !== "") result[key] = v;
  };
  // Declared values arrive here within the limits; composed text is cut at a word.
  fill("og:title", s.twitter.title);
  fill("og:title", () => cutAtWord(collapse(s.title), maxValueLength));
  fill("og:title", () => cutAtWord(collapse(s.h1), maxValueLength));
  fill("og:site_name", s.twitter.site);
  fill("og:description", s.twitter.description);
  fill("og:description", s.metaDescription);
  fill("og:description", () => {
    endParagraph(s);
    const max = Math.min(summaryLength, maxValueLength);
    return summariseParagraphs(s.paragraphs, Math.min(summaryMinLength, max), max);
  });
  fill("og:image", s.twitter.image);
  fill("og:image", s.firstImage);
  return result;
}

/** The metadata the page gave. @internal */
export function finishMetadata(
  s: ExtractorState,
  pageUrl: string,
): { og: Record<string, string>; oEmbedUrl?: string; stoppedEarly: boolean } {
  const baseUrl = baseUrlOf(s, pageUrl);
  const og = withFallbacks(s);
  for (const key of Object.keys(og)) {
    if (!URL_KEYS.has(key)) continue;
    if (IMAGE_URL_KEYS.has(key) && /^data:/i.test(og[key]!)) {
      if (!DATA_IMAGE.test(og[key]!)) delete og[key];
      continue;
    }
    const resolved = resolveHttpUrl(og[key]!, baseUrl, s.limits.maxValueLength);
    if (resolved === undefined) delete og[key];
    else og[key] = resolved;
  }
  // The discovery link is not a value shown to anyone: no length limit, as before.
  const oEmbed =
    s.oEmbedUrl === undefined ? undefined : resolveHttpUrl(s.oEmbedUrl, baseUrl, Infinity);
  return oEmbed === undefined
    ? { og, stoppedEarly: s.stoppedEarly }
    : { og, oEmbedUrl: oEmbed, stoppedEarly: s.stoppedEarly };
}
