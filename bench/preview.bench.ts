// URL preview benchmark: streaming parse+extract (stops once the head has what a preview
// needs) vs a full-document parse of the same page in the same run; previews/s on cache hits
// vs cache misses served by a loopback server.
// Run: node --expose-gc --import tsx bench/preview.bench.ts
import http from "node:http";
import type net from "node:net";
import { parseDocument } from "htmlparser2";
import { finish, opsPerSecond, percentile, report } from "./lib.js";
import {
  createPreviewFetcher,
  createSafeFetch,
  extractHtmlMetadata,
  memoryPreviewCache,
} from "../src/preview/index.js";

function page(targetBytes: number, withHeadDescription = true, declared = true): Buffer {
  const head =
    `<!doctype html><html lang="en"><head>${declared ? '<meta charset="utf-8">' : ""}<title>Benchmark page</title>` +
    `<meta property="og:title" content="The Rock"><meta property="og:type" content="video.movie">` +
    `<meta property="og:url" content="https://example.org/rock">` +
    (withHeadDescription ? `<meta property="og:description" content="A film about a rock.">` : "") +
    `<meta property="og:image" content="/rock.png"><link rel="stylesheet" href="/s.css">` +
    `<script>window.dataLayer = [];</script></head><body>`;
  const block =
    `<div class="post"><h2><a href="/p/1">A heading with a link</a></h2><p>Lorem ipsum dolor sit ` +
    `amet, <b>consectetur</b> adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore ` +
    `magna aliqua. <i>Ut enim</i> ad minim veniam &amp; more.</p><ul><li>one</li><li>two</li></ul>` +
    `<img src="/thumb.jpg" width="120" height="80" alt="x"></div>\n`;
  const parts = [head];
  let size = head.length;
  while (size < targetBytes - 20) {
    parts.push(block);
    size += block.length;
  }
  parts.push("</body></html>");
  return Buffer.from(parts.join(""));
}

function timeMs(fn: () => unknown, runs: number): { median: number; p95: number } {
  for (let i = 0; i < Math.min(5, runs); i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  return { median: percentile(samples, 50), p95: percentile(samples, 95) };
}

const url = "https://example.org/page";
for (const [label, bytes, runs] of [
  ["10 KB", 10 * 1024, 400],
  ["200 KB", 200 * 1024, 100],
  ["2 MB", 2 * 1024 * 1024, 10],
] as const) {
  const html = page(bytes);
  const ours = timeMs(() => extractHtmlMetadata(html, { url, contentType: "text/html" }), runs);
  const full = timeMs(() => parseDocument(html.toString("utf8")), runs);
  const check = extractHtmlMetadata(html, { url });
  if (check.og["og:title"] !== "The Rock" || !check.stoppedEarly) throw new Error("bad extraction");
  report({
    name: `parse+extract ${label} page (og in head)`,
    value: ours.median,
    baseline: full.median,
    baselineName: "htmlparser2 parseDocument",
    unit: "ms",
    lowerIsBetter: true,
    note: `p95 ${ours.p95.toFixed(3)} vs ${full.p95.toFixed(3)} ms`,
  });
}
for (const [label, declared] of [
  ["2 MB page (description from body)", true],
  // No charset declared: decoded as tentative UTF-8, its bytes kept in case they are not.
  ["2 MB page (body, no charset declared)", false],
] as const) {
  // Worst case: no description in the head, so body paragraphs are summarised.
  const html = page(2 * 1024 * 1024, false, declared);
  const ours = timeMs(() => extractHtmlMetadata(html, { url }), 20);
  const full = timeMs(() => parseDocument(html.toString("utf8")), 10);
  const check = extractHtmlMetadata(html, { url });
  if (!check.stoppedEarly || !String(check.og["og:description"]).includes("\n\n")) {
    throw new Error("bad body summary");
  }
  report({
    name: `parse+extract ${label}`,
    value: ours.median,
    baseline: full.median,
    baselineName: "htmlparser2 parseDocument",
    unit: "ms",
    lowerIsBetter: true,
    note: `p95 ${ours.p95.toFixed(3)} ms`,
  });
}

// Previews/s: cache hits vs misses against a loopback server.
const body = page(10 * 1024);
const server = http.createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(body);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
const safeFetch = createSafeFetch({ allowRanges: ["127.0.0.1/32"] });
const fetcher = createPreviewFetcher({
  fetch: safeFetch,
  cache: memoryPreviewCache({ maxEntries: 100_000 }),
  oEmbed: { discovery: false },
});
const ts = Date.now();
// og:image points at /rock.png which the server answers with HTML: dropped, as in production
// when an image is not an image; the miss path still pays for the page fetch and the image fetch.
await fetcher.preview(`${origin}/hit`, { ts });
const hits = await opsPerSecond(() => fetcher.preview(`${origin}/hit`, { ts }), 1500);
let n = 0;
const misses = await opsPerSecond(() => fetcher.preview(`${origin}/miss/${n++}`, { ts }), 1500);
report({
  name: "previews/s, cache hit (memory cache)",
  value: hits,
  baseline: misses,
  baselineName: "cache miss (loopback fetch)",
  unit: "ops/s",
});
await safeFetch.close();
server.close();
finish();
