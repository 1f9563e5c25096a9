// Text shaping shared by the extractor and the fetcher: whitespace, length limits, summaries.

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

/** At most `max` characters, cut at a space in the second half when there is one, with "…". @internal */
export function summarise(text: string, max: number): string {
  const t = collapse(text);
  if (t.length <= max) return t;
  const cut = truncateText(t, max - 1);
  const space = cut.lastIndexOf(" ");
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}
