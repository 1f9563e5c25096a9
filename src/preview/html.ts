// Streaming OpenGraph / Twitter card extraction with htmlparser2. The parser is paused as
// soon as the preview has what it needs (usually at </head>), so a 2 MB page costs about
// as much as its head. No recursion anywhere: deep nesting only grows htmlparser2's array stack.
import { Parser } from "htmlparser2";
import { detectCharset } from "./charset.js";
import { finishMetadata } from "./html-result.js";
import { createExtractorState, onCloseTag, onOpenTag, onText } from "./html-state.js";

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
  const state = createExtractorState({
    maxKeyLength: options.maxKeyLength ?? 50,
    maxValueLength: options.maxValueLength ?? 1000,
    maxKeys: options.maxKeys ?? 64,
    summaryLength: options.summaryLength ?? 500,
  });
  const parser = new Parser(
    {
      onopentag: (name, attribs) => onOpenTag(state, name, attribs),
      ontext: (text) => onText(state, text),
      onclosetag: (name) => onCloseTag(state, name),
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  state.pause = () => parser.pause();
  return {
    write(text: string): void {
      if (!state.done) parser.write(text);
    },
    get done(): boolean {
      return state.done;
    },
    end(): HtmlMetadata {
      if (!state.done) parser.end();
      state.done = true;
      return finishMetadata(state, options.url);
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
