// What the extractor gathers while htmlparser2 walks a page, and the handlers that gather it.
// The state is a plain object so the handlers live at module scope; `pause` pauses the parser.
import { collapse } from "./text.js";

/** The limits of one extraction. @internal */
export interface ExtractorLimits {
  maxKeyLength: number;
  maxValueLength: number;
  maxKeys: number;
  summaryLength: number;
  summaryMinLength: number;
  maxDataUrlLength: number;
}

/** Everything seen so far. @internal */
export interface ExtractorState {
  readonly limits: ExtractorLimits;
  readonly og: Record<string, string>;
  ogCount: number;
  readonly twitter: Record<string, string>;
  metaDescription: string | undefined;
  base: string | undefined;
  oEmbedUrl: string | undefined;
  title: string;
  titleState: "before" | "in" | "after";
  /** The first visible `<h1>`: the title of a page that has no other. */
  h1: string;
  h1State: "before" | "in" | "after";
  inBody: boolean;
  skipDepth: number;
  /** Body paragraphs (whitespace collapsed, none empty) for the description fallback. */
  readonly paragraphs: string[];
  /** The paragraph being read. */
  paragraph: string;
  /** Characters in `paragraphs`, blank-line separators included. */
  summaryChars: number;
  /** Enough paragraphs for a description: body text is no longer collected. */
  summaryDone: boolean;
  firstImage: string | undefined;
  done: boolean;
  stoppedEarly: boolean;
  depth: number;
  /** Pauses the parser; set once the parser exists. */
  pause: () => void;
}

/** Open elements the extractor follows before it stops (browsers cap DOM depth near 512). */
export const MAX_DEPTH = 1024;

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

// Elements that end a paragraph of body text (where a browser starts a new block).
const BLOCK_ELEMENTS = new Set([
  "p",
  "div",
  "li",
  "ul",
  "ol",
  "dl",
  "dt",
  "dd",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "blockquote",
  "pre",
  "section",
  "article",
  "main",
  "table",
  "tr",
  "td",
  "th",
  "caption",
  "figure",
  "figcaption",
  "address",
  "details",
  "summary",
  "hr",
]);

// Keys whose value may be a `data:` image, allowed past the usual value length.
const IMAGE_KEYS = new Set([
  "og:image",
  "og:image:url",
  "og:image:secure_url",
  "twitter:image",
  "twitter:image:src",
]);

/** @internal */
export function createExtractorState(limits: ExtractorLimits): ExtractorState {
  return {
    limits,
    og: {},
    ogCount: 0,
    twitter: {},
    metaDescription: undefined,
    base: undefined,
    oEmbedUrl: undefined,
    title: "",
    titleState: "before",
    h1: "",
    h1State: "before",
    inBody: false,
    skipDepth: 0,
    paragraphs: [],
    paragraph: "",
    summaryChars: 0,
    summaryDone: false,
    firstImage: undefined,
    done: false,
    stoppedEarly: false,
    depth: 0,
    pause: () => {},
  };
}

function hasEverything(s: ExtractorState): boolean {
  const hasTitle =
    s.og["og:title"] !== undefined ||
    s.twitter.title !== undefined ||
    /\S/.test(s.title) ||
    (s.h1State === "after" && /\S/.test(s.h1));
  const hasDescription =
    s.og["og:description"] !== undefined ||
    s.twitter.description !== undefined ||
    s.metaDescription !== undefined ||
    s.summaryDone;
  const hasImage =
    s.og["og:image"] !== undefined || s.twitter.image !== undefined || s.firstImage !== undefined;
  return hasTitle && hasDescription && hasImage;
}

function maybeStop(s: ExtractorState): void {
  if (s.inBody && hasEverything(s)) {
    s.done = true;
    s.stoppedEarly = true;
    s.pause();
  }
}

function enterBody(s: ExtractorState): void {
  if (s.inBody) return;
  s.inBody = true;
  if (s.titleState === "in") s.titleState = "after";
  maybeStop(s);
}

function onMeta(s: ExtractorState, attribs: Record<string, string>): void {
  const key = (attribs.property ?? attribs.name ?? "").trim().toLowerCase();
  const { maxKeyLength, maxValueLength, maxKeys, maxDataUrlLength } = s.limits;
  // Empty means absent: an empty tag must not shadow a later one or a fallback.
  const value = (attribs.content ?? "").trim();
  if (value === "" || key === "" || key.length > maxKeyLength) return;
  if (key === "description") {
    const description = collapse(value);
    if (s.metaDescription === undefined && description.length <= maxValueLength) {
      s.metaDescription = description;
    }
    return;
  }
  const dataImage = IMAGE_KEYS.has(key) && /^data:/i.test(value);
  if (value.length > (dataImage ? maxDataUrlLength : maxValueLength)) return;
  // OpenGraph's own keys and the vertical namespaces kept beside them.
  if (key.startsWith("og:") || key.startsWith("article:") || key.startsWith("profile:")) {
    if (s.og[key] === undefined && s.ogCount < maxKeys) {
      s.og[key] = value;
      s.ogCount++;
    }
  } else if (key.startsWith("twitter:")) {
    const short = key === "twitter:image:src" ? "image" : key.slice("twitter:".length);
    s.twitter[short] ??= value;
  }
}

function onLink(s: ExtractorState, attribs: Record<string, string>): void {
  const rel = (attribs.rel ?? "").toLowerCase().split(/\s+/);
  const type = (attribs.type ?? "").toLowerCase();
  if (
    s.oEmbedUrl === undefined &&
    rel.includes("alternate") &&
    type === "application/json+oembed" &&
    attribs.href
  ) {
    s.oEmbedUrl = attribs.href;
  }
}

function onImg(s: ExtractorState, attribs: Record<string, string>, hidden: boolean): void {
  if (!s.inBody || hidden || s.firstImage !== undefined || !attribs.src) return;
  if (attribs.src.startsWith("data:")) return;
  const w = Number(attribs.width);
  const h = Number(attribs.height);
  // Tracking pixels and spacers are not a preview.
  if ((attribs.width !== undefined && w <= 10) || (attribs.height !== undefined && h <= 10)) return;
  s.firstImage = attribs.src;
  maybeStop(s);
}

/** @internal */
export function onOpenTag(s: ExtractorState, name: string, attribs: Record<string, string>): void {
  if (s.done) return;
  if (++s.depth > MAX_DEPTH) {
    // htmlparser2 keeps its open-element stack with unshift(): deep nesting costs
    // O(depth) per tag. Past this depth the page is broken or hostile; keep what we have.
    s.done = true;
    s.pause();
    return;
  }
  // Inside <noscript>, <svg>, <template>...: not content a reader sees.
  const hidden = s.skipDepth > 0;
  if (SKIP_TEXT.has(name)) s.skipDepth++;
  // Any element that cannot live in <head> starts the body, as in a browser.
  if (!s.inBody && !hidden && !HEAD_ELEMENTS.has(name)) {
    enterBody(s);
    if (s.done) return;
  }
  if (s.inBody && BLOCK_ELEMENTS.has(name)) endParagraph(s);
  if (name === "br") s.paragraph += " ";
  if (name === "h1" && !hidden && s.h1State === "before") s.h1State = "in";
  if (name === "meta") onMeta(s, attribs);
  // The first <title> anywhere, as document.title, but not an SVG's <title>.
  else if (name === "title" && s.titleState === "before" && s.skipDepth === 1) s.titleState = "in";
  else if (name === "base" && s.base === undefined && attribs.href) s.base = attribs.href;
  else if (name === "link") onLink(s, attribs);
  else if (name === "body") enterBody(s);
  else if (name === "img") onImg(s, attribs, hidden);
}

/**
 * Ends the paragraph being read; once the paragraphs reach the summary's minimum length,
 * body text is no longer collected.
 * @internal
 */
export function endParagraph(s: ExtractorState): void {
  const paragraph = collapse(s.paragraph);
  s.paragraph = "";
  if (paragraph === "" || s.summaryDone) return;
  s.summaryChars += (s.paragraphs.length > 0 ? 2 : 0) + paragraph.length;
  s.paragraphs.push(paragraph);
  if (s.summaryChars >= s.limits.summaryMinLength) s.summaryDone = true;
}

/** @internal */
export function onText(s: ExtractorState, text: string): void {
  if (s.done) return;
  const { maxValueLength, summaryLength } = s.limits;
  if (s.titleState === "in") {
    if (s.title.length < maxValueLength * 2) s.title += text;
    return;
  }
  if (s.h1State === "in" && s.h1.length < maxValueLength * 2) s.h1 += text;
  if (!s.inBody || s.skipDepth > 0 || s.summaryDone) return;
  s.paragraph += text;
  // One endless paragraph: bounded by collapsing it, and ended once it alone is too long.
  if (s.paragraph.length >= summaryLength * 2) {
    s.paragraph = collapse(s.paragraph);
    if (s.paragraph.length > summaryLength) endParagraph(s);
  }
  if (s.summaryDone) maybeStop(s);
}

/** @internal */
export function onCloseTag(s: ExtractorState, name: string): void {
  if (s.done) return;
  s.depth--;
  if (SKIP_TEXT.has(name) && s.skipDepth > 0) s.skipDepth--;
  if (name === "title" && s.titleState === "in") s.titleState = "after";
  if (name === "h1" && s.h1State === "in") {
    s.h1State = /\S/.test(s.h1) ? "after" : "before";
    maybeStop(s);
  }
  if (name === "head") enterBody(s);
  else if (s.inBody && BLOCK_ELEMENTS.has(name)) {
    endParagraph(s);
    if (s.summaryDone) maybeStop(s);
  }
}
