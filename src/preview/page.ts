// An HTML page streamed through the extractor: the charset is sniffed from the first bytes,
// and the body is abandoned as soon as the extractor has what it needs.
import { TextDecoder } from "node:util";
import { CHARSET_SNIFF_BYTES, detectCharset } from "./charset.js";
import { HTML_SLICE_BYTES, createHtmlExtractor } from "./html.js";
import type { HtmlMetadata } from "./html.js";
import { contentTypeHeader } from "./responses.js";
import type { SafeResponse } from "./safe-fetch-options.js";

/** Extracts the page's metadata, reading no more of the body than needed. @internal */
export async function readHtml(res: SafeResponse): Promise<HtmlMetadata> {
  const extractor = createHtmlExtractor({ url: res.url });
  let decoder: TextDecoder | undefined;
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  const feed = (bytes: Buffer): void => {
    for (let i = 0; i < bytes.length && !extractor.done; i += HTML_SLICE_BYTES) {
      extractor.write(decoder!.decode(bytes.subarray(i, i + HTML_SLICE_BYTES), { stream: true }));
    }
  };
  const start = (): void => {
    const head = Buffer.concat(pending);
    decoder = new TextDecoder(detectCharset(head, contentTypeHeader(res)));
    feed(head);
  };
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    if (decoder === undefined) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= CHARSET_SNIFF_BYTES) start();
    } else {
      feed(chunk);
    }
    // Leaving the loop destroys the body: the rest of the page is never downloaded.
    if (extractor.done) break;
  }
  if (decoder === undefined) start();
  if (!extractor.done) extractor.write(decoder!.decode());
  return extractor.end();
}
