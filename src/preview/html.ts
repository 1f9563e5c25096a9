// Streaming OpenGraph / Twitter card extraction with htmlparser2. The parser is paused as
// soon as the preview has what it needs (usually at </head>), so a 2 MB page costs about
// as much as its head. No recursion anywhere: deep nesting only grows htmlparser2's array stack.
import { Parser } from "htmlparser2";
import { detectCharset } from "./charset.js";

/** Limits of {@link createHtmlExtractor}. */
export interface HtmlExtractorOptions {
  /** The page URL (after redirects): relative URLs resolve against it (or `<base href>`). */
  url: string;
  /**
   * Meta keys longer than this are dropped.
   * @defaultValue 50
   */
  maxKeyLength?: number;
  /**
   * Meta values longer than this are dropped; fallback title and description are truncated to it.
   * @defaultValue 1000
   */
  maxValueLength?: number;
  /**
   * At most this many `og:` keys are kept.
   * @defaultValue 64
   */
  maxKeys?: number;
  /**
   * Length of the description built from body text when the page has none.
   * @defaultValue 500
   */
  summaryLength?: number;
}

/** What the page said about itself. */
export interface HtmlMetadata {
  /** `og:*` keys (lower-case), with fallbacks filled in; URL values made absolute. */
  og: Record<string, string>;
  /** An oEmbed JSON discovery link (`<link rel="alternate" type="application/json+oembed">`). */
  oEmbedUrl?: string;
  /** True when parsing stopped early because everything needed was found. */
  stoppedEarly: boolean;
}

/** A push parser: `write` decoded text until `done`, then `end()`. */
export interface HtmlExtractor {
  write(text: string): void;
  /** True once nothing more is needed from the page; further writes are ignored. */
  readonly done: boolean;
  end(): HtmlMetadata;
}

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

// Elements that do not imply <body> when met before it.
const HEAD_ELEMENTS = new Set([
  "html",
  "head",
  "title",
  "meta",
  "link",
  "base",
  "script",
  "style",
  "noscript",
  "template",
]);

// Text inside these never makes a description.
const SKIP_TEXT = new Set([
  "script",
  "style",
  "noscript",
  "template",
  "svg",
  "math",
  "iframe",
  "object",
  "select",
  "textarea",
  "button",
  "nav",
  "header",
  "footer",
  "aside",
  "form",
  "title",
]);

/** Open elements the extractor follows before it stops (browsers cap DOM depth near 512). */
export const MAX_DEPTH = 1024;

/** Truncates to at most `max` UTF-16 units without splitting a surrogate pair. */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end);
}

function collapse(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

function summarise(text: string, max: number): string {
  const t = collapse(text);
  if (t.length <= max) return t;
  const cut = truncateText(t, max - 1);
  const space = cut.lastIndexOf(" ");
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}

/**
 * A streaming extractor of OpenGraph, Twitter card and fallback metadata (`<title>`, meta
 * description, body text, first suitable `<img>`). Feed decoded text with `write()` and stop
 * when `done` is true.
 *
 * @example
 * ```ts
 * const extractor = createHtmlExtractor({ url: "https://example.org/a/" });
 * extractor.write('<head><meta property="og:title" content="The Rock">');
 * extractor.end().og["og:title"]; // "The Rock"
 * ```
 */
export function createHtmlExtractor(options: HtmlExtractorOptions): HtmlExtractor {
  const maxKeyLength = options.maxKeyLength ?? 50;
  const maxValueLength = options.maxValueLength ?? 1000;
  const maxKeys = options.maxKeys ?? 64;
  const summaryLength = options.summaryLength ?? 500;

  const og: Record<string, string> = {};
  let ogCount = 0;
  const twitter: Record<string, string> = {};
  let metaDescription: string | undefined;
  let base: string | undefined;
  let oEmbedUrl: string | undefined;
  let title = "";
  let titleState: "before" | "in" | "after" = "before";
  let inBody = false;
  let skipDepth = 0;
  let bodyText = "";
  let firstImage: string | undefined;
  let done = false;
  let stoppedEarly = false;
  let depth = 0;

  const hasTitle = (): boolean =>
    og["og:title"] !== undefined || twitter.title !== undefined || title !== "";
  const hasDescription = (): boolean =>
    og["og:description"] !== undefined ||
    twitter.description !== undefined ||
    metaDescription !== undefined ||
    bodyText.length >= summaryLength * 2;
  const hasImage = (): boolean =>
    og["og:image"] !== undefined || twitter.image !== undefined || firstImage !== undefined;

  const maybeStop = (): void => {
    if (inBody && hasTitle() && hasDescription() && hasImage()) {
      done = true;
      stoppedEarly = true;
      parser.pause();
    }
  };

  const enterBody = (): void => {
    if (inBody) return;
    inBody = true;
    if (titleState === "in") titleState = "after";
    maybeStop();
  };

  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (done) return;
        if (++depth > MAX_DEPTH) {
          // htmlparser2 keeps its open-element stack with unshift(): deep nesting costs
          // O(depth) per tag. Past this depth the page is broken or hostile; keep what we have.
          done = true;
          parser.pause();
          return;
        }
        // Inside <noscript>, <svg>, <template>...: not content a reader sees.
        const hidden = skipDepth > 0;
        if (SKIP_TEXT.has(name)) skipDepth++;
        // Any element that cannot live in <head> starts the body, as in a browser.
        if (!inBody && !hidden && !HEAD_ELEMENTS.has(name)) {
          enterBody();
          if (done) return;
        }
        switch (name) {
          case "meta": {
            const key = (attribs.property ?? attribs.name ?? "").trim().toLowerCase();
            const content = attribs.content;
            if (content === undefined || key === "") break;
            if (key === "description") {
              if (metaDescription === undefined)
                metaDescription = truncateText(collapse(content), maxValueLength);
              break;
            }
            if (key.length > maxKeyLength || content.length > maxValueLength) break;
            if (key.startsWith("og:")) {
              if (og[key] === undefined && ogCount < maxKeys) {
                og[key] = content.trim();
                ogCount++;
              }
            } else if (key.startsWith("twitter:")) {
              const short = key === "twitter:image:src" ? "image" : key.slice("twitter:".length);
              if (twitter[short] === undefined) twitter[short] = content.trim();
            }
            break;
          }
          case "title":
            // The first <title> anywhere, as document.title, but not an SVG's <title>.
            if (titleState === "before" && skipDepth === 1) titleState = "in";
            break;
          case "base":
            if (base === undefined && attribs.href) base = attribs.href;
            break;
          case "link": {
            const rel = (attribs.rel ?? "").toLowerCase().split(/\s+/);
            const type = (attribs.type ?? "").toLowerCase();
            if (
              oEmbedUrl === undefined &&
              rel.includes("alternate") &&
              type === "application/json+oembed" &&
              attribs.href
            ) {
              oEmbedUrl = attribs.href;
            }
            break;
          }
          case "body":
            enterBody();
            break;
          case "img": {
            if (!inBody || hidden || firstImage !== undefined || !attribs.src) break;
            if (attribs.src.startsWith("data:")) break;
            const w = Number(attribs.width);
            const h = Number(attribs.height);
            // Tracking pixels and spacers are not a preview.
            if (
              (attribs.width !== undefined && w <= 10) ||
              (attribs.height !== undefined && h <= 10)
            )
              break;
            firstImage = attribs.src;
            maybeStop();
            break;
          }
          default:
            break;
        }
      },
      ontext(text) {
        if (done) return;
        if (titleState === "in") {
          if (title.length < maxValueLength * 2) title += text;
          return;
        }
        if (inBody && skipDepth === 0 && bodyText.length < summaryLength * 2) {
          bodyText += text;
          if (bodyText.length >= summaryLength * 2) maybeStop();
        }
      },
      onclosetag(name) {
        if (done) return;
        depth--;
        if (SKIP_TEXT.has(name) && skipDepth > 0) skipDepth--;
        if (name === "title" && titleState === "in") titleState = "after";
        if (name === "head") enterBody();
        else if (inBody && (name === "p" || name === "div" || name === "li")) bodyText += " ";
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );

  return {
    write(text: string): void {
      if (!done) parser.write(text);
    },
    get done(): boolean {
      return done;
    },
    end(): HtmlMetadata {
      if (!done) parser.end();
      done = true;
      let baseUrl = options.url;
      if (base !== undefined) {
        try {
          baseUrl = new URL(base, options.url).href;
        } catch {
          // An invalid <base> is ignored, as browsers do.
        }
      }
      const result: Record<string, string> = { ...og };
      const fill = (key: string, value: string | undefined): void => {
        if (result[key] === undefined && value !== undefined && value !== "") result[key] = value;
      };
      fill("og:title", twitter.title);
      fill("og:title", truncateText(collapse(title), maxValueLength));
      fill("og:description", twitter.description);
      fill("og:description", metaDescription);
      fill("og:description", summarise(bodyText, Math.min(summaryLength, maxValueLength)));
      fill("og:image", twitter.image);
      fill("og:image", firstImage);
      for (const key of Object.keys(result)) {
        if (!URL_KEYS.has(key)) continue;
        try {
          const resolved = new URL(result[key]!, baseUrl);
          if (resolved.protocol !== "http:" && resolved.protocol !== "https:") delete result[key];
          else if (resolved.href.length > maxValueLength) delete result[key];
          else result[key] = resolved.href;
        } catch {
          delete result[key];
        }
      }
      let oEmbed: string | undefined;
      if (oEmbedUrl !== undefined) {
        try {
          const resolved = new URL(oEmbedUrl, baseUrl);
          if (resolved.protocol === "http:" || resolved.protocol === "https:")
            oEmbed = resolved.href;
        } catch {
          // Ignored like any broken link.
        }
      }
      return oEmbed === undefined
        ? { og: result, stoppedEarly }
        : { og: result, oEmbedUrl: oEmbed, stoppedEarly };
    },
  };
}

/** Bytes decoded and handed to the parser at a time, so a finished parse stops promptly. */
export const HTML_SLICE_BYTES = 16 * 1024;

/**
 * Decodes (charset sniffed from the bytes and `contentType`) and extracts a whole HTML page
 * held in memory, stopping as soon as the preview has what it needs.
 *
 * @example
 * ```ts
 * const { og } = extractHtmlMetadata(Buffer.from(html), { url: "https://example.org/", contentType: "text/html" });
 * ```
 */
export function extractHtmlMetadata(
  html: Buffer | Uint8Array,
  options: HtmlExtractorOptions & { contentType?: string },
): HtmlMetadata {
  const decoder = new TextDecoder(detectCharset(html.subarray(0, 1024), options.contentType));
  const extractor = createHtmlExtractor(options);
  for (let i = 0; i < html.byteLength && !extractor.done; i += HTML_SLICE_BYTES) {
    extractor.write(decoder.decode(html.subarray(i, i + HTML_SLICE_BYTES), { stream: true }));
  }
  if (!extractor.done) extractor.write(decoder.decode());
  return extractor.end();
}
