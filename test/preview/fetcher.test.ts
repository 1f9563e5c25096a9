import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, it } from "node:test";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { gzipSync } from "node:zlib";
import sharp from "sharp";
import { memoryMetadataStore } from "../../src/metadata/index.js";
import { ConfigError, MediaError } from "../../src/errors.js";
import {
  createPreviewFetcher,
  createSafeFetch,
  PREVIEW_CHANNEL,
  memoryPreviewCache,
  previewBucket,
} from "../../src/preview/index.js";
import type { PreviewCache, PreviewCacheKey, PreviewCacheValue } from "../../src/preview/index.js";
import { LOOPBACK_ONLY, countingListener, dials, httpServer, stubResolver } from "./helpers.js";
import type { CountingListener, TestServer } from "./helpers.js";

type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

function html(body: string, type = "text/html; charset=utf-8"): Route {
  return (_req, res) => {
    res.writeHead(200, { "content-type": type });
    res.end(body);
  };
}

function bytes(data: Buffer, type: string): Route {
  return (_req, res) => {
    res.writeHead(200, { "content-type": type, "content-length": String(data.length) });
    res.end(data);
  };
}

/** True when the string has no lone surrogate (it survives a UTF-8 round trip). */
function wellFormed(text: string): boolean {
  return Buffer.from(text, "utf8").toString("utf8") === text;
}

async function rejectsWith(promise: Promise<unknown>, errcode: string): Promise<MediaError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(MediaError.is(error), `expected a MediaError, got ${String(error)}`);
    assert.equal(error.errcode, errcode);
    return error;
  }
  assert.fail(`expected ${errcode}`);
}

describe("createPreviewFetcher", () => {
  let server: TestServer;
  let listener: CountingListener;
  const routes = new Map<string, Route>();
  let png: Buffer;
  const resolver = stubResolver({ "intranet.test": ["10.1.1.1"], "site.test": ["127.0.0.1"] });
  const safeFetch = createSafeFetch({
    allowRanges: LOOPBACK_ONLY,
    lookup: resolver.lookup,
    timeoutMs: 5000,
  });

  before(async () => {
    png = await sharp({
      create: { width: 279, height: 129, channels: 3, background: { r: 200, g: 40, b: 40 } },
    })
      .png()
      .toBuffer();
    listener = await countingListener();
    server = await httpServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const route = routes.get(path);
      if (route) route(req, res);
      else {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("not found");
      }
    });
  });
  after(async () => {
    await safeFetch.close();
    await server.close();
    await listener.close();
  });

  it("The Rock: og fields, relative og:image resolved and downloaded with its size", async () => {
    routes.set(
      "/movies/rock.html",
      html(`<!doctype html><html prefix="og: https://ogp.me/ns#"><head>
        <title>The Rock (1996)</title>
        <meta property="og:title" content="The Rock" />
        <meta property="og:type" content="video.movie" />
        <meta property="og:url" content="https://www.imdb.com/title/tt0117500/" />
        <meta property="og:image" content="../images/rock.png" />
        <meta property="og:image:width" content="9999" />
      </head><body></body></html>`),
    );
    routes.set("/images/rock.png", bytes(png, "image/png"));
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const result = await fetcher.preview(`${server.origin}/movies/rock.html`);
    assert.deepEqual(result.og, {
      "og:title": "The Rock",
      "og:type": "video.movie",
      "og:url": "https://www.imdb.com/title/tt0117500/",
      "og:image": `${server.origin}/images/rock.png`,
      "og:image:type": "image/png",
      "og:image:width": 279,
      "og:image:height": 129,
      "matrix:image:size": png.length,
    });
    assert.ok(result.image);
    assert.ok(result.image.data.equals(png));
    assert.equal(result.image.contentType, "image/png");
    assert.equal(result.image.width, 279);
    assert.equal(result.image.height, 129);
    assert.equal(result.image.size, png.length);
    assert.equal(result.cached, false);
  });

  it("Twitter cards and fallbacks (title, meta description, first suitable <img>)", async () => {
    routes.set(
      "/twitter",
      html(`<html><head><meta name="twitter:title" content="Tweet title">
        <meta name="twitter:image" content="/images/rock.png"></head><body><p>ignored</p></body></html>`),
    );
    routes.set(
      "/fallbacks",
      html(`<html><head><base href="/images/"><title>  Plain
        title </title><meta name="description" content="Meta description"></head>
        <body><img src="pixel.gif" width="1" height="1"><p>Text</p><img src="rock.png"></body></html>`),
    );
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const t = await fetcher.preview(`${server.origin}/twitter`);
    assert.equal(t.og["og:title"], "Tweet title");
    assert.equal(t.og["og:image:width"], 279);
    assert.equal(t.og["og:description"], "ignored");
    const f = await fetcher.preview(`${server.origin}/fallbacks`);
    assert.equal(f.og["og:title"], "Plain title");
    assert.equal(f.og["og:description"], "Meta description");
    assert.equal(f.og["og:image"], `${server.origin}/images/rock.png`);
    assert.equal(f.og["matrix:image:size"], png.length);
  });

  it("og:image on a private host, a denied name or a blocklisted URL is not fetched", async () => {
    const mark = dials.length;
    const fetcher = createPreviewFetcher({
      fetch: safeFetch,
      urlBlocklist: [{ path: "/images/blocked*" }],
    });
    const cases = [
      `http://[::1]:${listener.port}/a.png`,
      `http://127.0.0.2:${listener.port}/a.png`,
      `http://intranet.test:${listener.port}/a.png`,
      `http://169.254.169.254/latest/meta-data/`,
    ];
    for (const image of cases) {
      routes.set(
        "/private-image",
        html(`<head><meta property="og:title" content="Page"><meta property="og:image" content="${image}">
          <meta property="og:image:width" content="10"></head>`),
      );
      const result = await fetcher.preview(`${server.origin}/private-image`);
      assert.equal(result.og["og:title"], "Page");
      assert.equal(result.image, undefined);
      assert.ok(
        Object.keys(result.og).every((k) => !k.startsWith("og:image")),
        `og:image kept for ${image}`,
      );
    }
    routes.set("/images/blocked.png", bytes(png, "image/png"));
    routes.set(
      "/blocked-image",
      html(
        `<head><meta property="og:title" content="B"><meta property="og:image" content="/images/blocked.png"></head>`,
      ),
    );
    const before = server.requests.length;
    const blocked = await fetcher.preview(`${server.origin}/blocked-image`);
    assert.equal(blocked.og["og:image"], undefined);
    assert.deepEqual(server.requests.slice(before), ["/blocked-image"]);
    assert.equal(listener.connections, 0);
    assert.deepEqual(
      dials.slice(mark).filter((d) => d !== "127.0.0.1"),
      [],
    );
  });

  it("oEmbed endpoints on private hosts are not fetched (discovery link and provider list)", async () => {
    const mark = dials.length;
    routes.set(
      "/oembed-private",
      html(`<head><title>Has oEmbed</title>
        <link rel="alternate" type="application/json+oembed" href="http://[::1]:${listener.port}/oembed?url=x">
      </head><body><p>Body</p></body>`),
    );
    routes.set("/video/1", html(`<head><title>Fallback page</title></head>`));
    const fetcher = createPreviewFetcher({
      fetch: safeFetch,
      oEmbed: {
        providers: [
          {
            endpoint: `http://intranet.test:${listener.port}/oembed`,
            schemes: [`${server.origin}/video/*`],
          },
        ],
      },
    });
    const discovered = await fetcher.preview(`${server.origin}/oembed-private`);
    assert.equal(discovered.og["og:title"], "Has oEmbed");
    // The provider endpoint is refused, so the page itself is previewed.
    const viaProvider = await fetcher.preview(`${server.origin}/video/1`);
    assert.equal(viaProvider.og["og:title"], "Fallback page");
    assert.equal(listener.connections, 0);
    assert.deepEqual(
      dials.slice(mark).filter((d) => d !== "127.0.0.1"),
      [],
    );
  });

  it("oEmbed providers and discovery on allowed hosts fill the preview", async () => {
    routes.set("/oembed", (req, res) => {
      const target = new URL(req.url ?? "/", "http://x").searchParams.get("url") ?? "";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          version: "1.0",
          type: "video",
          title: `Video at ${new URL(target).pathname}`,
          provider_name: "LocalTube",
          thumbnail_url: "/images/rock.png",
          html: "<iframe src='x'></iframe><p>Video description</p>",
        }),
      );
    });
    routes.set(
      "/with-discovery",
      html(`<head><meta property="og:title" content="Own title">
        <link rel="alternate" type="application/json+oembed" href="/oembed?url=http%3A%2F%2Fa.test%2Fd"></head>`),
    );
    const fetcher = createPreviewFetcher({
      fetch: safeFetch,
      oEmbed: {
        providers: [
          { endpoint: `${server.origin}/oembed`, schemes: ["http://site.test:*/watch*"] },
        ],
      },
    });
    const byProvider = await fetcher.preview(`http://site.test:${server.port}/watch?v=1`);
    assert.equal(byProvider.og["og:title"], "Video at /watch");
    assert.equal(byProvider.og["og:site_name"], "LocalTube");
    assert.equal(byProvider.og["og:type"], "video.other");
    assert.equal(byProvider.og["og:description"], "Video description");
    assert.equal(byProvider.og["og:image:height"], 129);
    const byDiscovery = await fetcher.preview(`${server.origin}/with-discovery`);
    assert.equal(byDiscovery.og["og:title"], "Own title");
    assert.equal(byDiscovery.og["og:site_name"], "LocalTube");
    assert.equal(byDiscovery.og["og:image:width"], 279);
  });

  it("100k nested tags, a 1 MB title, invalid and UTF-16 charsets give valid, truncated UTF-8", async () => {
    routes.set(
      "/deep",
      html(
        `<html><head><title>Deep</title></head><body>${"<div>".repeat(100_000)}deep text${"</div>".repeat(100_000)}`,
      ),
    );
    routes.set("/big-title", html(`<html><head><title>${"é🎉".repeat(400_000)}</title></head>`));
    routes.set(
      "/bad-charset",
      html(`<meta charset="no-such-charset"><title>Caf\u00e9 ✓</title>`, "text/html"),
    );
    routes.set(
      "/utf16-meta",
      html(
        `<meta http-equiv="content-type" content="text/html; charset=utf-16"><title>Caf\u00e9 ✓</title>`,
        "text/html",
      ),
    );
    routes.set(
      "/utf16-bom",
      bytes(
        Buffer.concat([
          Buffer.from([0xff, 0xfe]),
          Buffer.from("<title>Caf\u00e9 ✓</title>", "utf16le"),
        ]),
        "text/html; charset=windows-1252",
      ),
    );
    routes.set(
      "/latin1-header",
      bytes(Buffer.from("<title>Caf\u00e9</title>", "latin1"), "text/html; charset=ISO-8859-1"),
    );
    routes.set(
      "/invalid-bytes",
      bytes(
        Buffer.from([
          0x3c, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x3e, 0x41, 0xff, 0xc3, 0x42, 0x3c, 0x2f, 0x74, 0x69,
          0x74, 0x6c, 0x65, 0x3e,
        ]),
        // Declared UTF-8: invalid bytes become U+FFFD (undeclared pages: see issue 16 tests).
        "text/html; charset=utf-8",
      ),
    );
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const started = Date.now();
    const deep = await fetcher.preview(`${server.origin}/deep`);
    assert.equal(deep.og["og:title"], "Deep");
    // Extraction gives up past MAX_DEPTH open elements instead of walking all 100k.
    assert.equal(deep.og["og:description"], undefined);
    assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
    routes.set(
      "/nested-ok",
      html(`<head><title>N</title></head><body>${"<span>".repeat(500)}shallow enough`),
    );
    assert.equal(
      (await fetcher.preview(`${server.origin}/nested-ok`)).og["og:description"],
      "shallow enough",
    );

    const big = await fetcher.preview(`${server.origin}/big-title`);
    const title = big.og["og:title"];
    assert.equal(typeof title, "string");
    assert.ok((title as string).length <= 1000 && (title as string).length > 900);
    assert.ok(wellFormed(title as string), "no lone surrogate");
    assert.ok((title as string).startsWith("é🎉é🎉"));
    assert.equal(JSON.stringify(big.og).length < 2000, true);

    for (const path of ["/bad-charset", "/utf16-meta", "/utf16-bom"]) {
      const r = await fetcher.preview(`${server.origin}${path}`);
      assert.equal(r.og["og:title"], "Café ✓", path);
    }
    assert.equal((await fetcher.preview(`${server.origin}/latin1-header`)).og["og:title"], "Café");
    const invalid = (await fetcher.preview(`${server.origin}/invalid-bytes`)).og[
      "og:title"
    ] as string;
    assert.equal(invalid, "A\ufffd\ufffdB");
    assert.ok(wellFormed(invalid));
  });

  it("drops meta keys over 50 characters and values over 1,000", async () => {
    const longKey = `og:${"k".repeat(48)}`;
    routes.set(
      "/limits",
      html(`<head><meta property="og:title" content="${"v".repeat(1001)}"><title>Short</title>
        <meta property="${longKey}" content="x"><meta property="og:site_name" content="${"s".repeat(1000)}"></head>`),
    );
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const { og } = await fetcher.preview(`${server.origin}/limits`);
    assert.equal(og["og:title"], "Short");
    assert.equal(og[longKey], undefined);
    assert.equal((og["og:site_name"] as string).length, 1000);
  });

  it("stops reading at </head> once the head has what is needed", async () => {
    let written = 0;
    routes.set("/huge", (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.write(`<html><head><meta property="og:title" content="Huge">
        <meta property="og:description" content="Desc"><meta property="og:image" content="/nope.png"></head><body>`);
      const chunk = Buffer.from("<p>filler</p>".repeat(5000));
      const pump = (): void => {
        // 100 MB if anyone read it all: far past maxPageBytes.
        while (!res.destroyed && written < 100e6) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    const fetcher = createPreviewFetcher({ fetch: safeFetch, maxPageBytes: 1024 * 1024 });
    const { og } = await fetcher.preview(`${server.origin}/huge`);
    assert.equal(og["og:title"], "Huge");
    assert.equal(og["og:description"], "Desc");
    assert.ok(written < 20e6, `server wrote ${written} bytes`);
  });

  it("an endless page is stopped by maxPageBytes", async () => {
    routes.set("/endless", (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.write("<html><head><title>");
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        while (!res.destroyed) if (!res.write(chunk)) return void res.once("drain", pump);
      };
      pump();
    });
    const fetcher = createPreviewFetcher({ fetch: safeFetch, maxPageBytes: 512 * 1024 });
    const error = await rejectsWith(fetcher.preview(`${server.origin}/endless`), "M_TOO_LARGE");
    assert.equal(error.status, 502);
  });

  it("checks the content type before reading; a direct image URL becomes an image preview", async () => {
    routes.set("/direct.png", bytes(png, "image/png"));
    routes.set("/binary", bytes(Buffer.alloc(1000), "application/octet-stream"));
    routes.set(
      "/svg",
      bytes(Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"), "image/svg+xml"),
    );
    routes.set("/lying.png", bytes(Buffer.from("<html>not an image</html>"), "image/png"));
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const direct = await fetcher.preview(`${server.origin}/direct.png`);
    assert.deepEqual(direct.og, {
      "og:image": `${server.origin}/direct.png`,
      "og:image:type": "image/png",
      "og:image:width": 279,
      "og:image:height": 129,
      "matrix:image:size": png.length,
    });
    assert.ok(direct.image?.data.equals(png));
    for (const path of ["/binary", "/svg", "/lying.png"]) {
      const error = await rejectsWith(fetcher.preview(`${server.origin}${path}`), "M_UNKNOWN");
      assert.equal(error.status, 502, path);
    }
    await rejectsWith(fetcher.preview(`${server.origin}/missing`), "M_UNKNOWN");
    await rejectsWith(fetcher.preview("ftp://example.org/"), "M_INVALID_PARAM");
    await rejectsWith(fetcher.preview("not a url"), "M_INVALID_PARAM");
  });

  it("URL blocklist: globs and ^regex per component; blocked URLs are never requested", async () => {
    routes.set("/public", html("<title>ok</title>"));
    routes.set("/secret/doc", html("<title>secret</title>"));
    const fetcher = createPreviewFetcher({
      fetch: safeFetch,
      urlBlocklist: [
        { hostname: "*.corp.test" },
        { hostname: "127.0.0.1", path: "^/secret/" },
        { scheme: "http", query: "*token=*" },
      ],
    });
    const before = server.requests.length;
    for (const url of [
      "https://wiki.corp.test/page",
      `${server.origin}/secret/doc`,
      `${server.origin}/public?token=abc`,
    ]) {
      const error = await rejectsWith(fetcher.preview(url), "M_FORBIDDEN");
      assert.equal(error.status, 403);
    }
    assert.equal(server.requests.length, before);
    assert.equal((await fetcher.preview(`${server.origin}/public`)).og["og:title"], "ok");
    // A redirect into a blocked URL is refused at that hop.
    routes.set("/to-secret", (_req, res) => {
      res.writeHead(302, { location: "/secret/doc" });
      res.end();
    });
    const mark = server.requests.length;
    await rejectsWith(fetcher.preview(`${server.origin}/to-secret`), "M_FORBIDDEN");
    assert.deepEqual(server.requests.slice(mark), ["/to-secret"]);
    assert.throws(
      () => createPreviewFetcher({ urlBlocklist: [{ host: "^(" }] }),
      /urlBlocklist\[0\]\.host/,
    );
    assert.throws(
      () => createPreviewFetcher({ urlBlocklist: [{ nope: "x" } as never] }),
      /urlBlocklist\[0\]\.nope/,
    );
    for (const bad of [
      { urlBlocklist: [{ host: "^(" }] },
      { maxPageBytes: 0 },
      { ttlMs: 1.5 },
      { acceptLanguage: "en\nx" },
      { fetch: "no" as never },
      { oEmbed: { providers: [{ endpoint: "ftp://x/", schemes: [] }] } },
      { oEmbed: { maxBytes: -1 } },
    ]) {
      assert.throws(() => createPreviewFetcher(bad), ConfigError, JSON.stringify(bad));
    }
    assert.throws(() => memoryPreviewCache({ maxEntries: 0 }), ConfigError);
  });

  it("cache: keyed by URL + hour bucket + language; errors cached briefly", async () => {
    let hits = 0;
    routes.set("/cached", (req, res) => {
      hits++;
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<title>${req.headers["accept-language"] ?? "none"} ${hits}</title>`);
    });
    let failing = 0;
    routes.set("/failing", (_req, res) => {
      failing++;
      res.writeHead(500);
      res.end();
    });
    const sets: PreviewCacheKey[] = [];
    const backing = memoryPreviewCache({ maxEntries: 100 });
    const cache: PreviewCache = {
      get: (key) => backing.get(key),
      set: (key: PreviewCacheKey, value: PreviewCacheValue) => {
        sets.push(key);
        return backing.set(key, value);
      },
    };
    let clock = Date.UTC(2024, 5, 1, 10, 5);
    const fetcher = createPreviewFetcher({
      fetch: safeFetch,
      cache,
      now: () => clock,
      errorTtlMs: 60_000,
    });
    const url = `${server.origin}/cached#fragment`;
    const first = await fetcher.preview(url, { ts: Date.UTC(2024, 5, 1, 10, 5) });
    assert.equal(first.og["og:title"], "en 1");
    assert.equal(first.cached, false);
    assert.deepEqual(sets[0], {
      url: `${server.origin}/cached`,
      bucket: Date.UTC(2024, 5, 1, 10),
      language: "en",
    });
    // Same hour: a hit (the bucket is rounded down, so 10:55 finds 10:05's entry).
    const second = await fetcher.preview(url, { ts: Date.UTC(2024, 5, 1, 10, 55) });
    assert.equal(second.og["og:title"], "en 1");
    assert.equal(second.cached, true);
    assert.equal(hits, 1);
    // Next hour, or another language: misses.
    assert.equal(
      (await fetcher.preview(url, { ts: Date.UTC(2024, 5, 1, 11, 1) })).og["og:title"],
      "en 2",
    );
    const fr = await fetcher.preview(url, { ts: Date.UTC(2024, 5, 1, 10, 30), language: "fr" });
    assert.equal(fr.og["og:title"], "fr 3");
    assert.equal(previewBucket(Date.UTC(2024, 5, 1, 10, 59, 59, 999)), Date.UTC(2024, 5, 1, 10));

    await rejectsWith(fetcher.preview(`${server.origin}/failing`), "M_UNKNOWN");
    await rejectsWith(fetcher.preview(`${server.origin}/failing`), "M_UNKNOWN");
    assert.equal(failing, 1, "the error was cached");
    clock += 61_000;
    await rejectsWith(fetcher.preview(`${server.origin}/failing`), "M_UNKNOWN");
    assert.equal(failing, 2, "the error expired after errorTtlMs");
  });

  it("storeImage puts the mxc URI in og:image, and the cached JSON keeps it", async () => {
    routes.set(
      "/store",
      html(
        `<head><meta property="og:title" content="Stored"><meta property="og:image" content="/images/rock.png"></head>`,
      ),
    );
    const stored: number[] = [];
    const fetcher = createPreviewFetcher({
      fetch: safeFetch,
      cache: memoryPreviewCache({ maxEntries: 10 }),
      storeImage: (image) => {
        stored.push(image.size);
        return Promise.resolve("mxc://example.org/preview1");
      },
    });
    const first = await fetcher.preview(`${server.origin}/store`, { ts: 0 });
    assert.equal(first.og["og:image"], "mxc://example.org/preview1");
    assert.equal(first.og["matrix:image:size"], png.length);
    assert.equal(first.image, undefined);
    const again = await fetcher.preview(`${server.origin}/store`, { ts: 1 });
    assert.equal(again.cached, true);
    assert.equal(again.og["og:image"], "mxc://example.org/preview1");
    assert.deepEqual(stored, [png.length]);
  });

  it("a caller's signal stops its wait", async () => {
    routes.set("/slow", (req, res) => {
      const timer = setTimeout(() => html("<title>slow</title>")(req, res), 300);
      res.on("close", () => clearTimeout(timer));
    });
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const controller = new AbortController();
    const reason = new Error("client went away");
    const waiting = fetcher.preview(`${server.origin}/slow`, { ts: 0, signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(waiting, (e) => e === reason);
    // Another caller still gets the shared result.
    const other = await fetcher.preview(`${server.origin}/slow`, { ts: 0 });
    assert.equal(other.og["og:title"], "slow");
  });

  it("a compressed body (despite accept-encoding: identity) is refused, not parsed as garbage", async () => {
    routes.set("/gzip", (_req, res) => {
      res.writeHead(200, { "content-type": "text/html", "content-encoding": "gzip" });
      res.end(gzipSync("<title>zipped</title>"));
    });
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    await rejectsWith(fetcher.preview(`${server.origin}/gzip`), "M_UNKNOWN");
  });

  it("a cache seam over a metadata store gets url, hour bucket, language and expiry", async () => {
    routes.set("/meta-cached", html("<title>in the store</title>"));
    const store = memoryMetadataStore();
    const ts = Date.UTC(2024, 0, 2, 3, 45);
    // What an embedder that uses the fetcher without a repository writes.
    const cache: PreviewCache = {
      get: async (key) => store.getPreview(key.url, key.bucket, key.language),
      set: async (key, value) => store.putPreview({ ...key, ...value }),
    };
    const fetcher = createPreviewFetcher({ fetch: safeFetch, cache, now: () => ts });
    await fetcher.preview(`${server.origin}/meta-cached`, { ts, language: "de" });
    const entry = await store.getPreview(
      `${server.origin}/meta-cached`,
      Date.UTC(2024, 0, 2, 3),
      "de",
    );
    assert.ok(entry);
    assert.deepEqual(JSON.parse(entry.json), { og: { "og:title": "in the store" } });
    assert.equal(entry.expiresAt, ts + 86_400_000);
    const hit = await fetcher.preview(`${server.origin}/meta-cached`, {
      ts: ts + 60_000,
      language: "de",
    });
    assert.equal(hit.cached, true);
    await store.close();
  });

  it("publishes one diagnostics message per preview, with the host only", async () => {
    routes.set("/diag", html("<title>d</title>"));
    const messages: unknown[] = [];
    const onMessage = (m: unknown): void => {
      messages.push(m);
    };
    subscribe(PREVIEW_CHANNEL, onMessage);
    try {
      const fetcher = createPreviewFetcher({ fetch: safeFetch });
      await fetcher.preview(`${server.origin}/diag?token=secret`);
      await rejectsWith(fetcher.preview(`${server.origin}/missing?token=secret`), "M_UNKNOWN");
    } finally {
      unsubscribe(PREVIEW_CHANNEL, onMessage);
    }
    assert.equal(messages.length, 2);
    assert.doesNotMatch(JSON.stringify(messages), /secret|diag/);
    assert.deepEqual(
      messages.map((m) => {
        const { host, cached, errcode } = m as { host: string; cached: boolean; errcode?: string };
        return { host, cached, errcode };
      }),
      [
        { host: `127.0.0.1:${server.port}`, cached: false, errcode: undefined },
        { host: `127.0.0.1:${server.port}`, cached: false, errcode: "M_UNKNOWN" },
      ],
    );
  });

  it("concurrent previews of one URL share a single fetch", async () => {
    let count = 0;
    routes.set("/shared", (_req, res) => {
      count++;
      setTimeout(() => html("<title>shared</title>")(_req, res), 50);
    });
    const fetcher = createPreviewFetcher({ fetch: safeFetch });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => fetcher.preview(`${server.origin}/shared`, { ts: 0 })),
    );
    assert.ok(results.every((r) => r.og["og:title"] === "shared"));
    assert.equal(count, 1);
  });
});
