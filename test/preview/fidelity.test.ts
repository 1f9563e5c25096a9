// Preview fidelity (issue 16): every page, oEmbed endpoint and data: image is made here and
// served on loopback; distinct loopback addresses stand for distinct sites.
import assert from "node:assert/strict";
import type http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { ConfigError } from "../../src/errors.js";
import { fsDatastore } from "../../src/datastore/index.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore } from "../../src/metadata/memory.js";
import { createMediaRepository } from "../../src/repository/index.js";
import {
  createPreviewFetcher,
  createSafeFetch,
  detectCharset,
  extractHtmlMetadata,
} from "../../src/preview/index.js";
import type { SafeFetch } from "../../src/preview/index.js";
import { tempDir } from "../harness/tmp.js";
import { httpServer } from "./helpers.js";
import type { TestServer } from "./helpers.js";

type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

function send(body: string | Buffer, type: string): Route {
  return (_req, res) => {
    res.writeHead(200, { "content-type": type });
    res.end(body);
  };
}
const html = (body: string): Route => send(body, "text/html; charset=utf-8");
const json = (value: unknown): Route => send(JSON.stringify(value), "application/json");

/** A server on `host` answering from a per-test route table (path → route). */
async function site(host: string): Promise<{ server: TestServer; routes: Map<string, Route> }> {
  const routes = new Map<string, Route>();
  const server = await httpServer((req, res) => {
    const route = routes.get(new URL(req.url ?? "/", "http://x").pathname);
    if (route) return route(req, res);
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  }, host);
  return { server, routes };
}

/** Counts every request the fetcher makes, so "never fetched" is observable. */
function counting(inner: SafeFetch): SafeFetch & { urls: string[] } {
  const urls: string[] = [];
  const wrapped = (url: string | URL, init?: Parameters<SafeFetch>[1]) => {
    urls.push(String(url));
    return inner(url, init);
  };
  return Object.assign(wrapped, { urls, close: () => inner.close() });
}

describe("preview fidelity", () => {
  let page: Awaited<ReturnType<typeof site>>;
  let provider: Awaited<ReturnType<typeof site>>;
  let png: Buffer;
  const safeFetch = createSafeFetch({
    allowRanges: ["127.0.0.2/32", "127.0.0.3/32"],
    timeoutMs: 5000,
  });

  before(async () => {
    png = await sharp({
      create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 120, b: 200 } },
    })
      .png()
      .toBuffer();
    page = await site("127.0.0.2");
    provider = await site("127.0.0.3");
  });
  after(async () => {
    await safeFetch.close();
    await page.server.close();
    await provider.server.close();
  });

  it("1. empty tags are absent: they shadow neither later tags nor fallbacks", async () => {
    page.routes.set(
      "/empty",
      html(`<head><meta property="og:title" content="   "><title>Real title</title>
        <meta property="og:description" content="">
        <meta name="description" content=" ">
        <meta name="description" content="Real description"></head><body><p>Body</p></body>`),
    );
    page.routes.set(
      "/empty-to-body",
      html(`<head><title>T</title><meta property="og:description" content="">
        <meta name="twitter:description" content=" "></head><body><p>From the body.</p></body>`),
    );
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const { og } = await fetcher.preview(`${page.server.origin}/empty`);
    assert.equal(og["og:title"], "Real title");
    assert.equal(og["og:description"], "Real description");
    const body = await fetcher.preview(`${page.server.origin}/empty-to-body`);
    assert.equal(body.og["og:description"], "From the body.");
  });

  it("2. undeclared pages that are not UTF-8 decode as windows-1252", async () => {
    const latin = (text: string): Buffer => Buffer.from(text, "latin1");
    page.routes.set("/cp1252", send(latin("<title>Canción ÿ</title>"), "text/html"));
    // The first invalid byte comes after 40 KB of valid ASCII: the page is read again.
    page.routes.set(
      "/cp1252-late",
      send(
        latin(`<html><head><!--${"a".repeat(40_000)}--><title>Señor ó</title></head>`),
        "text/html",
      ),
    );
    page.routes.set("/utf8-undeclared", send(Buffer.from("<title>Café ✓</title>"), "text/html"));
    page.routes.set(
      "/declared-latin",
      send(latin("<title>Déclaré</title>"), "text/html; charset=iso-8859-1"),
    );
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const title = async (p: string) =>
      (await fetcher.preview(`${page.server.origin}${p}`)).og["og:title"];
    assert.equal(await title("/cp1252"), "Canción ÿ");
    assert.equal(await title("/cp1252-late"), "Señor ó");
    assert.equal(await title("/utf8-undeclared"), "Café ✓");
    assert.equal(await title("/declared-latin"), "Déclaré");
    assert.equal(
      detectCharset(Buffer.from([0x3c, 0x70, 0x3e, 0xf3, 0x3c]), "text/html"),
      "windows-1252",
    );
    // A UTF-8 sequence cut off at the end of the sniffed bytes is still UTF-8.
    assert.equal(detectCharset(Buffer.from([0x3c, 0x70, 0x3e, 0xc3])), "utf-8");
    const inMemory = extractHtmlMetadata(latin("<title>Ñandú</title>"), { url: "http://x/" });
    assert.equal(inMemory.og["og:title"], "Ñandú");
  });

  it("3. provider endpoints with {format}, a query or a trailing slash are requested as JSON", async () => {
    provider.routes.set("/api/oembed.json", json({ type: "link", title: "By path" }));
    provider.routes.set("/services/oembed", json({ type: "link", title: "By query" }));
    provider.routes.set("/plain/", json({ type: "link", title: "Plain" }));
    const origin = provider.server.origin;
    const fetcher = createPreviewFetcher({
      fetch: safeFetch,
      oEmbed: {
        providers: [
          { endpoint: `${origin}/api/oembed.{format}`, schemes: ["http://a.test/*"] },
          {
            endpoint: `${origin}/services/oembed?format={format}&iframe=1`,
            schemes: ["http://b.test/*"],
          },
          { endpoint: `${origin}/plain/`, schemes: ["http://c.test/*"] },
        ],
      },
    });
    const before = provider.server.requests.length;
    assert.equal((await fetcher.preview("http://a.test/v/1")).og["og:title"], "By path");
    assert.equal((await fetcher.preview("http://b.test/v/2")).og["og:title"], "By query");
    assert.equal((await fetcher.preview("http://c.test/v/3")).og["og:title"], "Plain");
    const asked = provider.server.requests.slice(before).map((r) => new URL(r, "http://x"));
    assert.deepEqual(
      asked.map((u) => u.pathname),
      ["/api/oembed.json", "/services/oembed", "/plain/"],
    );
    assert.ok(asked.every((u) => u.searchParams.getAll("format").join() === "json"));
    assert.equal(asked[0]!.searchParams.get("url"), "http://a.test/v/1");
    assert.equal(asked[1]!.searchParams.get("iframe"), "1");
    for (const endpoint of ["https://*.example.org/oembed", "https://example.org/{id}/oembed"]) {
      assert.throws(
        () => createPreviewFetcher({ oEmbed: { providers: [{ endpoint, schemes: [] }] } }),
        (error) =>
          error instanceof ConfigError && /oEmbed\.providers\[0\]\.endpoint/.test(error.message),
      );
    }
  });

  it("4. rich and video oEmbed: first <img> of html as og:image, author as title, og:url, unescaped titles", async () => {
    provider.routes.set("/thumbs/1.png", send(png, "image/png"));
    provider.routes.set(
      "/oembed",
      json({
        type: "rich",
        author_name: "Ada Lovelace",
        provider_name: "Notes",
        html: `<blockquote><p>A note</p><img src="/thumbs/pixel.gif" width="1" height="1"><img src="/thumbs/1.png" width="200"></blockquote>`,
      }),
    );
    provider.routes.set(
      "/oembed-video",
      json({
        type: "video",
        title: "Tom &amp; Jerry &#8211; &lt;3",
        html: "<iframe src='/x'></iframe>",
      }),
    );
    const origin = provider.server.origin;
    const fetcher = createPreviewFetcher({
      fetch: safeFetch,
      oEmbed: {
        providers: [
          { endpoint: `${origin}/oembed`, schemes: ["http://notes.test/*"] },
          { endpoint: `${origin}/oembed-video`, schemes: ["http://video.test/*"] },
        ],
      },
    });
    const rich = await fetcher.preview("http://notes.test/n/1?x=y");
    assert.equal(rich.og["og:title"], "Ada Lovelace");
    assert.equal(rich.og["og:description"], "A note");
    assert.equal(rich.og["og:url"], "http://notes.test/n/1?x=y");
    assert.equal(rich.og["og:image"], `${origin}/thumbs/1.png`);
    assert.equal(rich.og["og:image:width"], 40);
    assert.ok(rich.image?.data.equals(png));
    const video = await fetcher.preview("http://video.test/v/9");
    assert.equal(video.og["og:title"], "Tom & Jerry – <3");
    assert.equal(video.og["og:url"], "http://video.test/v/9");
    assert.equal(video.og["og:type"], "video.other");
    // A discovered endpoint fills og:url only when the page has none.
    page.routes.set(
      "/discovered",
      html(`<head><meta property="og:url" content="http://canonical.test/">
        <link rel="alternate" type="application/json+oembed" href="${origin}/oembed-video?u=1"></head>`),
    );
    const discovered = await fetcher.preview(`${page.server.origin}/discovered`);
    assert.equal(discovered.og["og:url"], "http://canonical.test/");
    assert.equal(discovered.og["og:title"], "Tom & Jerry – <3");
  });

  it("5. <h1>, twitter:site, article:/profile: keys, paragraph summaries, overlong values", async () => {
    page.routes.set(
      "/article",
      html(`<head><meta name="twitter:site" content="@newsroom">
        <meta property="article:published_time" content="2024-05-01T10:00:00Z">
        <meta property="article:author" content="https://example.org/ada">
        <meta property="profile:username" content="ada"></head>
        <body><nav>Home | About</nav><h1>  The <em>headline</em> </h1>
        <p>First paragraph, with <b>inline</b> markup.</p><p>Second paragraph.</p></body>`),
    );
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const { og } = await fetcher.preview(`${page.server.origin}/article`);
    assert.equal(og["og:title"], "The headline");
    assert.equal(og["og:site_name"], "@newsroom");
    assert.equal(og["article:published_time"], "2024-05-01T10:00:00Z");
    assert.equal(og["article:author"], "https://example.org/ada");
    assert.equal(og["profile:username"], "ada");
    assert.equal(
      og["og:description"],
      "The headline\n\nFirst paragraph, with inline markup.\n\nSecond paragraph.",
    );

    const sentence = "Paragraphs of ordinary words make a description people recognise. ";
    page.routes.set(
      "/long",
      html(`<head><title>${"Word ".repeat(300)}</title>
        <meta name="description" content="${"d".repeat(1001)}"></head>
        <body><p>${sentence.repeat(3)}</p><p>${sentence.repeat(20)}</p><p>Never reached.</p></body>`),
    );
    const long = (await fetcher.preview(`${page.server.origin}/long`)).og;
    const title = long["og:title"] as string;
    assert.ok(title.length <= 1000 && title.length > 900, `title of ${title.length}`);
    assert.match(title, /^Word( Word)*…$/, "cut between words");
    // An overlong declared value is dropped, so the body fallback applies.
    const description = long["og:description"] as string;
    assert.ok(description.length <= 500, `description of ${description.length}`);
    assert.ok(description.startsWith(`${sentence.repeat(3).trim()}\n\nParagraphs`));
    assert.match(description, /\w…$/);
    assert.doesNotMatch(description, /Never reached/);
  });

  it("6. data: images are decoded (typed, capped), stored like fetched ones, never fetched", async () => {
    const dataUrl = `data:image/png;base64,${png.toString("base64")}`;
    const pageWith = (image: string): Route =>
      html(
        `<head><meta property="og:title" content="Data"><meta property="og:image" content="${image}"></head>`,
      );
    page.routes.set("/data-png", pageWith(dataUrl));
    page.routes.set(
      "/data-svg",
      pageWith(`data:image/svg+xml;base64,${Buffer.from("<svg/>").toString("base64")}`),
    );
    page.routes.set(
      "/data-lying",
      pageWith(`data:image/png;base64,${Buffer.from("<html>").toString("base64")}`),
    );
    page.routes.set(
      "/data-percent",
      pageWith(
        `data:image/png,${[...png].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}`,
      ),
    );
    const fetch = counting(safeFetch);
    const fetcher = createPreviewFetcher({ fetch });
    const result = await fetcher.preview(`${page.server.origin}/data-png`);
    assert.deepEqual(fetch.urls, [`${page.server.origin}/data-png`]);
    assert.ok(result.image);
    assert.ok(result.image.data.equals(png));
    assert.equal(result.image.contentType, "image/png");
    assert.equal(result.og["og:image:width"], 40);
    assert.equal(result.og["og:image:height"], 30);
    assert.equal(result.og["matrix:image:size"], png.length);
    // No URL a client could fetch: only the bytes stand for the image.
    assert.equal(result.og["og:image"], undefined);
    const percent = await fetcher.preview(`${page.server.origin}/data-percent`);
    assert.ok(percent.image?.data.equals(png));
    for (const p of ["/data-svg", "/data-lying"]) {
      const refused = await fetcher.preview(`${page.server.origin}${p}`);
      assert.equal(refused.image, undefined, p);
      assert.ok(
        Object.keys(refused.og).every((k) => !k.startsWith("og:image")),
        p,
      );
    }
    const capped = createPreviewFetcher({ fetch, maxImageBytes: png.length - 1 });
    assert.equal((await capped.preview(`${page.server.origin}/data-png`)).image, undefined);
    const blocked = createPreviewFetcher({ fetch, urlBlocklist: [{ scheme: "data" }] });
    assert.equal((await blocked.preview(`${page.server.origin}/data-png`)).image, undefined);
    assert.ok(fetch.urls.every((u) => !u.startsWith("data:")));

    // Through the repository: stored as media of kind preview, og:image is its mxc://.
    const dir = await tempDir("mmk-preview-");
    const metadata = memoryMetadataStore();
    const repo = createMediaRepository({
      serverName: "example.org",
      ids: createMediaIdGenerator({ machineId: 5 }),
      datastore: fsDatastore({ root: path.join(dir.path, "media"), fsync: false }),
      metadata,
      previews: createPreviewFetcher({ fetch }),
    });
    try {
      const og = await repo.preview(`${page.server.origin}/data-png`, { userId: "@a:example.org" });
      assert.match(String(og["og:image"]), /^mxc:\/\/example\.org\//);
      assert.equal(og["og:image:width"], 40);
      const mediaId = String(og["og:image"]).split("/").pop()!;
      const { record, body } = await repo.download("example.org", mediaId);
      assert.equal(record.kind, "preview");
      const chunks: Buffer[] = [];
      if (body.buffer) chunks.push(body.buffer);
      else for await (const chunk of body.stream!) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(png));
    } finally {
      await repo.close();
      await dir.cleanup();
    }
  });

  it("the body summary stays bounded: a 2 MB page without a description stops early", () => {
    const block = `<div><h2>Heading</h2><p>${"Some body text here. ".repeat(8)}</p></div>\n`;
    const big = Buffer.from(
      `<head><meta charset="utf-8"><title>Big</title><meta property="og:image" content="/i.png"></head><body>${block.repeat(Math.ceil((2 << 20) / block.length))}`,
    );
    const started = performance.now();
    const result = extractHtmlMetadata(big, { url: "http://x/" });
    const elapsed = performance.now() - started;
    assert.equal(result.stoppedEarly, true);
    assert.ok((result.og["og:description"] as string).startsWith("Heading\n\nSome body text"));
    assert.ok(elapsed < 200, `took ${elapsed} ms`);
  });
});
