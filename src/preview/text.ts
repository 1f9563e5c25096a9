// Text shaping shared by the extractor and the fetcher: whitespace, length limits, summaries.
import { Parser } from "htmlparser2";

/** Truncates to at most `max` UTF-16 units without splitting a surrogate pair. @internal */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end);
}

/** Runs of whitespace become one space; the ends are trimmed. @internal */
export function collapse(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

let words: Intl.Segmenter | undefined;

/**
 * At most `max` characters: `text` itself, or its start cut at the last word boundary with
 * "…" (the ellipsis counted). Word boundaries are Unicode's (Intl.Segmenter), so scripts
 * written without spaces are cut between words too. Undefined when no boundary fits: one
 * "word" longer than `max` is not shortened mid-word.
 * @internal
 */
export function cutAtWord(text: string, max: number): string | undefined {
  if (text.length <= max) return text;
  words ??= new Intl.Segmenter(undefined, { granularity: "word" });
  // A little past the cut, so the segment that straddles it is seen whole.
  const window = text.slice(0, max + 32);
  let cut = 0;
  for (const { index } of words.segment(window)) {
    if (index > max - 1) break;
    cut = index;
  }
  const kept = text.slice(0, cut).trimEnd();
  return kept === "" ? undefined : `${kept}…`;
}

/**
 * A description from body paragraphs: whole paragraphs joined by a blank line until there
 * are at least `min` characters, then cut at a word to at most `max`.
 * @internal
 */
export function summariseParagraphs(
  paragraphs: readonly string[],
  min: number,
  max: number,
): string | undefined {
  let text = "";
  for (const paragraph of paragraphs) {
    if (text.length >= min) break;
    text = text === "" ? paragraph : `${text}\n\n${paragraph}`;
  }
  if (text === "") return undefined;
  return cutAtWord(text, max);
}

/** Decodes HTML character references (`&amp;`, `&#233;`…) in plain text. @internal */
export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  let decoded = "";
  // `<` escaped first, so the parser sees only text and character references.
  const parser = new Parser({ ontext: (part) => (decoded += part) }, { decodeEntities: true });
  parser.end(text.replace(/</g, "&lt;"));
  return decoded;
}
