// Streaming OpenGraph / Twitter card extraction with htmlparser2. The parser is paused as
// soon as the preview has what it needs (usually at </head>), so a 2 MB page costs about
// as much as its head. No recursion anywhere: deep nesting only grows htmlparser2's array stack.
import { Parser } from "htmlparser2";
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
   * Declared values (meta content) longer than this are dropped, so the next fallback
   * applies; composed text (`<title>`, `<h1>`, body text) is cut at a word to fit it.
   * @defaultValue 1000
   */
  maxValueLength?: number;
  /**
   * At most this many `og:`, `article:` and `profile:` keys are kept.
   * @defaultValue 64
   */
  maxKeys?: number;
  /**
   * Longest description built from body text when the page has none (cut at a word, "…").
   * @defaultValue 500
   */
  summaryLength?: number;
  /**
   * Body paragraphs are joined (by a blank line) until the description has this many
   * characters.
   * @defaultValue 200
   */
  summaryMinLength?: number;
  /**
   * Longest `data:` URL kept for `og:image` / `twitter:image` (other values keep
   * `maxValueLength`).
   * @defaultValue 13981080 (a 10 MiB image, base64-encoded)
   */
  maxDataUrlLength?: number;
}

/** What the page said about itself. */
export interface HtmlMetadata {
  /**
   * `og:*`, `article:*` and `profile:*` keys (lower-case), with fallbacks filled in; URL
   * values made absolute (`og:image` may also be a `data:` image URL).
   */
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

/** The length of a base64 `data:` URL of an image of `bytes` bytes. @internal */
export function dataUrlLength(bytes: number): number {
  return Math.ceil(bytes / 3) * 4 + 64;
}

/**
 * A streaming extractor of OpenGraph, Twitter card and fallback metadata (`<title>`, `<h1>`,
 * meta description, body paragraphs, first suitable `<img>`, `twitter:site`). Empty values
 * count as absent. Feed decoded text with `write()` and stop when `done` is true.
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
    summaryMinLength: options.summaryMinLength ?? 200,
    maxDataUrlLength: options.maxDataUrlLength ?? dataUrlLength(10 * 1024 * 1024),
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
