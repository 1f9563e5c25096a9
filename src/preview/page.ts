// An HTML page streamed through the extractor. The charset is taken from the first bytes;
// a page that declares none is read as UTF-8 while its bytes are valid UTF-8, and re-read
// from the start as windows-1252 at the first invalid sequence (as browsers and Synapse
// decode undeclared pages). Reading stops as soon as the extractor has what it needs.
import { TextDecoder } from "node:util";
import { CHARSET_SNIFF_BYTES, declaredCharset, isUtf8Prefix } from "./charset.js";
import { createHtmlExtractor } from "./html.js";
import type { HtmlExtractor, HtmlExtractorOptions, HtmlMetadata } from "./html.js";
import { contentTypeHeader } from "./responses.js";
import type { SafeResponse } from "./safe-fetch-options.js";

/** Bytes decoded and handed to the parser at a time, so a finished parse stops promptly. */
export const HTML_SLICE_BYTES = 16 * 1024;

/** A push reader of page bytes. @internal */
export interface PageReader {
  push(bytes: Uint8Array): void;
  /** True once the extractor needs nothing more. */
  readonly done: boolean;
  end(): HtmlMetadata;
}

interface ReaderState {
  readonly options: HtmlExtractorOptions;
  readonly contentType: string | undefined;
  extractor: HtmlExtractor;
  decoder: TextDecoder | undefined;
  /** Undeclared and valid so far: the bytes are kept to re-read them as windows-1252. */
  tentative: Uint8Array[] | undefined;
  pending: Uint8Array[];
  pendingBytes: number;
}

function feed(state: ReaderState, bytes: Uint8Array): void {
  state.tentative?.push(bytes);
  for (let i = 0; i < bytes.length && !state.extractor.done; i += HTML_SLICE_BYTES) {
    let text: string;
    try {
      text = state.decoder!.decode(bytes.subarray(i, i + HTML_SLICE_BYTES), { stream: true });
    } catch {
      return reread(state);
    }
    state.extractor.write(text);
  }
}

/** The undeclared page is not UTF-8 after all: start again, as windows-1252. */
function reread(state: ReaderState): void {
  const seen = state.tentative!;
  state.tentative = undefined;
  state.extractor = createHtmlExtractor(state.options);
  state.decoder = new TextDecoder("windows-1252");
  for (const bytes of seen) feed(state, bytes);
}

function start(state: ReaderState): void {
  const head = state.pending.length === 1 ? state.pending[0]! : Buffer.concat(state.pending);
  state.pending = [];
  const declared = declaredCharset(head, state.contentType);
  if (declared !== undefined) {
    state.decoder = new TextDecoder(declared);
  } else if (isUtf8Prefix(head)) {
    state.decoder = new TextDecoder("utf-8", { fatal: true });
    state.tentative = [];
  } else {
    state.decoder = new TextDecoder("windows-1252");
  }
  feed(state, head);
}

/** A reader feeding decoded slices of a page to an extractor. @internal */
export function createPageReader(
  options: HtmlExtractorOptions,
  contentType: string | undefined,
): PageReader {
  const state: ReaderState = {
    options,
    contentType,
    extractor: createHtmlExtractor(options),
    decoder: undefined,
    tentative: undefined,
    pending: [],
    pendingBytes: 0,
  };
  return {
    push(bytes) {
      if (state.extractor.done) return;
      if (state.decoder !== undefined) return feed(state, bytes);
      state.pending.push(bytes);
      state.pendingBytes += bytes.length;
      if (state.pendingBytes >= CHARSET_SNIFF_BYTES) start(state);
    },
    get done() {
      return state.extractor.done;
    },
    end() {
      if (state.decoder === undefined) start(state);
      if (!state.extractor.done) {
        try {
          state.extractor.write(state.decoder!.decode());
        } catch {
          // A sequence cut off at the very end: the bytes are not UTF-8 either.
          reread(state);
          if (!state.extractor.done) state.extractor.write(state.decoder!.decode());
        }
      }
      return state.extractor.end();
    },
  };
}

/** Extracts the page's metadata, reading no more of the body than needed. @internal */
export async function readHtml(
  res: SafeResponse,
  options: Omit<HtmlExtractorOptions, "url"> = {},
): Promise<HtmlMetadata> {
  const reader = createPageReader({ ...options, url: res.url }, contentTypeHeader(res));
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    reader.push(chunk);
    // Leaving the loop destroys the body: the rest of the page is never downloaded.
    if (reader.done) break;
  }
  return reader.end();
}

/**
 * Decodes (charset from the bytes and `contentType`, windows-1252 for undeclared pages that
 * are not UTF-8) and extracts a whole HTML page held in memory, stopping as soon as the
 * preview has what it needs.
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
  const reader = createPageReader(options, options.contentType);
  for (let i = 0; i < html.byteLength && !reader.done; i += HTML_SLICE_BYTES) {
    reader.push(html.subarray(i, i + HTML_SLICE_BYTES));
  }
  return reader.end();
}
