import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, describe, it } from "node:test";
import {
  DEFAULT_DENY_RANGES,
  SAFE_FETCH_DIAL_CHANNEL,
  SafeFetchError,
  createSafeFetch,
} from "../../src/preview/index.js";
import { ConfigError, MediaError } from "../../src/errors.js";
import { LOOPBACK_ONLY, countingListener, dials, httpServer, stubResolver } from "./helpers.js";
import type { CountingListener, TestServer } from "./helpers.js";

async function refusal(promise: Promise<unknown>): Promise<SafeFetchError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SafeFetchError, `expected a SafeFetchError, got ${String(error)}`);
    assert.ok(MediaError.is(error));
    return error;
  }
  assert.fail("expected the request to be refused");
}

function dialsSince(mark: number): string[] {
  return dials.slice(mark);
}

describe("createSafeFetch: IP literals are refused before any TCP connection", () => {
  let listener: CountingListener;
  const safeFetch = createSafeFetch({ timeoutMs: 5000 });
  before(async () => {
    listener = await countingListener();
  });
  after(async () => {
    await safeFetch.close();
    await listener.close();
  });

  const hosts = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "[::1]",
    "[::ffff:7f00:1]",
    "[::ffff:127.0.0.1]",
    "[2002:7f00:1::]",
    "[64:ff9b::7f00:1]",
    "0.0.0.0",
    "[::]",
    "169.254.169.254",
    "10.0.0.1",
    "[fc00::1]",
    "[fe80::1]",
  ];
  for (const host of hosts) {
    for (const scheme of ["http", "https"]) {
      it(`refuses ${scheme}://${host} with 403 and no connection reaching a listener`, async () => {
        const mark = dials.length;
        const error = await refusal(
          safeFetch(`${scheme}://${host}:${listener.port}/latest/meta-data/`),
        );
        assert.equal(error.reason, "address-denied");
        assert.equal(error.errcode, "M_FORBIDDEN");
        assert.equal(error.status, 403);
        // The client-facing message names no address.
        assert.doesNotMatch(error.message, /127|::|10\.0|169\.254|fc00|fe80/);
        assert.equal(listener.connections, 0);
        assert.deepEqual(dialsSince(mark), []);
      });
    }
  }
});

describe("createSafeFetch: resolved names", () => {
  let server: TestServer;
  let listener: CountingListener;
  before(async () => {
    server = await httpServer((req, res) => {
      res.setHeader("content-type", "text/plain");
      res.end(`hello ${req.url}`);
    });
    listener = await countingListener();
  });
  after(async () => {
    await server.close();
    await listener.close();
  });

  it("refuses a name with one allowed and one denied address, in either order, without connecting", async () => {
    for (const answers of [
      ["127.0.0.1", "10.0.0.1"],
      ["10.0.0.1", "127.0.0.1"],
      ["127.0.0.1", "::1"],
    ]) {
      const { lookup, calls } = stubResolver({ "mixed.test": answers });
      const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, lookup });
      const mark = dials.length;
      const error = await refusal(safeFetch(`http://mixed.test:${server.port}/`));
      assert.equal(error.reason, "address-denied");
      assert.deepEqual(calls, ["mixed.test"]);
      assert.deepEqual(dialsSince(mark), []);
      await safeFetch.close();
    }
    assert.equal(server.connections, 0);
  });

  it("refuses names resolving to loopback, IPv4-mapped loopback and NAT64 (listener sees nothing)", async () => {
    const { lookup } = stubResolver({
      "localhost.test": ["::1"],
      "mapped.test": ["::ffff:127.0.0.1"],
      "nat64.test": ["64:ff9b::a00:1"],
      "garbage.test": ["not-an-ip"],
    });
    const safeFetch = createSafeFetch({ lookup });
    for (const name of ["localhost.test", "mapped.test", "nat64.test", "garbage.test"]) {
      const error = await refusal(safeFetch(`http://${name}:${listener.port}/`));
      assert.equal(error.reason, "address-denied", name);
    }
    assert.equal(listener.connections, 0);
    await safeFetch.close();
  });

  it("DNS rebinding: only the checked address is dialled; a later private answer is refused", async () => {
    let answer = 0;
    const { lookup, calls } = stubResolver({
      // First answer allowed, every later one private: a resolver that rebinds.
      "rebind.test": () => (answer++ === 0 ? ["127.0.0.1"] : ["10.0.0.1"]),
    });
    const dialled: Array<{ address: string }> = [];
    const onDial = (message: unknown): void => {
      dialled.push(message as { address: string });
    };
    subscribe(SAFE_FETCH_DIAL_CHANNEL, onDial);
    const rebindServer = await httpServer((req, res) => {
      // Close after each response so the next request needs a fresh connection (and lookup).
      res.setHeader("connection", "close");
      res.end("checked");
    });
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, lookup });
    try {
      const mark = dials.length;
      const res = await safeFetch(`http://rebind.test:${rebindServer.port}/`);
      assert.equal(await res.text(), "checked");
      assert.deepEqual(calls, ["rebind.test"]);
      assert.deepEqual(
        dialled.map((d) => d.address),
        ["127.0.0.1"],
      );
      assert.deepEqual(dialsSince(mark), ["127.0.0.1"]);

      const error = await refusal(safeFetch(`http://rebind.test:${rebindServer.port}/again`));
      assert.equal(error.reason, "address-denied");
      assert.equal(calls.length, 2);
      // net was only ever handed the checked IP literal, never the name.
      assert.deepEqual(dialsSince(mark), ["127.0.0.1"]);
      assert.equal(rebindServer.connections, 1);
    } finally {
      unsubscribe(SAFE_FETCH_DIAL_CHANNEL, onDial);
      await safeFetch.close();
      await rebindServer.close();
    }
  });

  it("fetches an allowed name and reports the final URL", async () => {
    const { lookup } = stubResolver({ "ok.test": ["127.0.0.1"] });
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, lookup });
    const res = await safeFetch(`http://ok.test:${server.port}/path?q=1`);
    assert.equal(res.status, 200);
    assert.equal(res.url, `http://ok.test:${server.port}/path?q=1`);
    assert.equal(await res.text(), "hello /path?q=1");
    await safeFetch.close();
  });

  it("falls back to the next checked address when one refuses the connection", async () => {
    // Nothing listens on 127.0.0.2:port; both answers are allowed, so the second is tried.
    const { lookup } = stubResolver({ "two.test": ["127.0.0.2", "127.0.0.1"] });
    const safeFetch = createSafeFetch({ allowRanges: ["127.0.0.1/32", "127.0.0.2/32"], lookup });
    const mark = dials.length;
    const res = await safeFetch(`http://two.test:${server.port}/fallback`);
    assert.equal(await res.text(), "hello /fallback");
    assert.deepEqual(dialsSince(mark), ["127.0.0.2", "127.0.0.1"]);
    await safeFetch.close();
  });

  it("a resolver that never answers fails within the deadline and does not wedge the origin", async () => {
    let hang = true;
    const lookup = (): Promise<Array<{ address: string; family: number }>> =>
      hang ? new Promise(() => {}) : Promise.resolve([{ address: "127.0.0.1", family: 4 }]);
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, lookup, timeoutMs: 800 });
    const started = Date.now();
    const error = await refusal(safeFetch(`http://slow-dns.test:${server.port}/`));
    assert.ok(["timeout", "dns"].includes(error.reason), error.reason);
    assert.ok(Date.now() - started < 5000);
    hang = false;
    // Give the hung lookup's own timer time to release undici's connection slot.
    await new Promise((r) => setTimeout(r, 900));
    const res = await safeFetch(`http://slow-dns.test:${server.port}/later`);
    assert.equal(await res.text(), "hello /later");
    await safeFetch.close();
  });

  it("allowUrl is applied to every hop", async () => {
    const redirecting = await httpServer((req, res) => {
      if (req.url === "/start") res.writeHead(302, { location: "/forbidden/x" });
      res.end("ok");
    });
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY });
    const error = await refusal(
      safeFetch(`${redirecting.origin}/start`, {
        allowUrl: (u) => !u.pathname.startsWith("/forbidden/"),
      }),
    );
    assert.equal(error.reason, "url-blocked");
    assert.equal(error.status, 403);
    assert.deepEqual(redirecting.requests, ["/start"]);
    await safeFetch.close();
    await redirecting.close();
  });

  it("a name that does not resolve is a 502 dns failure", async () => {
    const { lookup } = stubResolver({});
    const safeFetch = createSafeFetch({ lookup });
    const error = await refusal(safeFetch("http://nowhere.test/"));
    assert.equal(error.reason, "dns");
    assert.equal(error.status, 502);
    await safeFetch.close();
  });
});

describe("createSafeFetch: redirects", () => {
  let server: TestServer;
  let listener: CountingListener;
  before(async () => {
    listener = await countingListener();
    server = await httpServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/to-private") {
        res.writeHead(302, { location: `http://10.0.0.1:${listener.port}/` });
      } else if (url.pathname === "/to-ipv6-loopback") {
        res.writeHead(302, { location: `http://[::1]:${listener.port}/` });
      } else if (url.pathname === "/to-name") {
        res.writeHead(307, { location: `http://internal.test:${listener.port}/` });
      } else if (url.pathname === "/to-file") {
        res.writeHead(302, { location: "file:///etc/passwd" });
      } else if (url.pathname.startsWith("/hop/")) {
        const n = Number(url.pathname.slice(5));
        const limit = Number(url.searchParams.get("limit") ?? "1000");
        if (n < limit) res.writeHead(302, { location: `/hop/${n + 1}?limit=${limit}` });
        else res.writeHead(200, { "content-type": "text/plain" });
      } else {
        res.writeHead(200);
      }
      res.end(`body of ${url.pathname}`);
    });
  });
  after(async () => {
    await server.close();
    await listener.close();
  });

  it("302 to a private address is refused at that hop", async () => {
    const { lookup } = stubResolver({ "internal.test": ["192.168.1.20"] });
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, lookup });
    const mark = dials.length;
    for (const path of ["/to-private", "/to-ipv6-loopback", "/to-name"]) {
      const error = await refusal(safeFetch(`${server.origin}${path}`));
      assert.equal(error.reason, "address-denied", path);
    }
    assert.equal(listener.connections, 0);
    assert.ok(dialsSince(mark).every((d) => d === "127.0.0.1"));
    const scheme = await refusal(safeFetch(`${server.origin}/to-file`));
    assert.equal(scheme.reason, "scheme");
    await safeFetch.close();
  });

  it("follows up to maxRedirects hops and refuses one more", async () => {
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, maxRedirects: 3 });
    const ok = await safeFetch(`${server.origin}/hop/0?limit=3`);
    assert.equal(ok.status, 200);
    assert.equal(ok.url, `${server.origin}/hop/3?limit=3`);
    assert.equal(ok.redirects.length, 4);
    assert.equal(await ok.text(), "body of /hop/3");

    const before = server.requests.length;
    const error = await refusal(safeFetch(`${server.origin}/hop/0`));
    assert.equal(error.reason, "too-many-redirects");
    // The original request plus 3 followed hops; the 4th redirect is not followed.
    assert.equal(server.requests.length - before, 4);

    const manual = await safeFetch(`${server.origin}/hop/0`, { redirect: "manual" });
    assert.equal(manual.status, 302);
    manual.cancel();
    const refused = await refusal(safeFetch(`${server.origin}/hop/0`, { redirect: "error" }));
    assert.equal(refused.reason, "too-many-redirects");
    await safeFetch.close();
  });
});

describe("createSafeFetch: byte cap and deadline", () => {
  let server: TestServer;
  const timers = new Set<NodeJS.Timeout>();
  before(async () => {
    server = await httpServer((req, res) => {
      if (req.url === "/endless") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once("drain", pump);
        };
        res.on("close", () => res.removeAllListeners("drain"));
        pump();
      } else if (req.url === "/trickle") {
        res.writeHead(200, { "content-type": "text/html" });
        const timer = setInterval(() => {
          if (res.destroyed) clearInterval(timer);
          else res.write("a");
        }, 1000);
        timers.add(timer);
        res.on("close", () => clearInterval(timer));
      } else if (req.url === "/slow-headers") {
        const timer = setTimeout(() => res.end("late"), 60_000);
        timers.add(timer);
        res.on("close", () => clearTimeout(timer));
      } else if (req.url === "/declared-large") {
        res.writeHead(200, { "content-length": String(50 * 1024 * 1024) });
        res.write("x");
      } else {
        res.end("small");
      }
    });
  });
  after(async () => {
    for (const t of timers) clearInterval(t);
    await server.close();
  });

  it("an endless body is stopped by the byte cap, counted on the wire", async () => {
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, maxBytes: 1024 * 1024 });
    const res = await safeFetch(`${server.origin}/endless`);
    const error = await refusal(res.buffer());
    assert.equal(error.reason, "too-large");
    assert.equal(error.errcode, "M_TOO_LARGE");
    // The stream form enforces the same cap.
    const res2 = await safeFetch(`${server.origin}/endless`, { maxBytes: 200_000 });
    let seen = 0;
    const streamed = await refusal(
      (async () => {
        for await (const chunk of res2.body) seen += (chunk as Buffer).length;
      })(),
    );
    assert.equal(streamed.reason, "too-large");
    assert.ok(seen <= 200_000, `read ${seen} bytes past the cap`);
    await safeFetch.close();
  });

  it("a Content-Length over the cap is refused before the body is read", async () => {
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, maxBytes: 1024 });
    const error = await refusal(safeFetch(`${server.origin}/declared-large`));
    assert.equal(error.reason, "too-large");
    await safeFetch.close();
  });

  it("a 1-byte-per-second trickle is stopped by the overall deadline", async () => {
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, timeoutMs: 2500 });
    const started = Date.now();
    const res = await safeFetch(`${server.origin}/trickle`);
    const error = await refusal(res.text());
    const elapsed = Date.now() - started;
    assert.equal(error.reason, "timeout");
    assert.equal(error.status, 504);
    // Generous bounds: the deadline (2.5 s) and not undici's idle timeouts (reset by each byte).
    assert.ok(elapsed >= 2000 && elapsed < 15_000, `stopped after ${elapsed} ms`);
    await safeFetch.close();
  });

  it("slow headers hit the same deadline; a caller's abort signal is honoured", async () => {
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, timeoutMs: 10_000 });
    const error = await refusal(safeFetch(`${server.origin}/slow-headers`, { timeoutMs: 500 }));
    assert.equal(error.reason, "timeout");
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    setTimeout(() => controller.abort(reason), 200);
    await assert.rejects(
      safeFetch(`${server.origin}/slow-headers`, { signal: controller.signal }),
      (e) => e === reason,
    );
    await safeFetch.close();
  });
});

describe("createSafeFetch: configuration", () => {
  it("the default deny list is never weakened by options", async () => {
    assert.ok(Object.isFrozen(DEFAULT_DENY_RANGES));
    for (const range of [
      "127.0.0.0/8",
      "10.0.0.0/8",
      "0.0.0.0/8",
      "240.0.0.0/4",
      "64:ff9b::/96",
      "64:ff9b:1::/48",
      "100::/64",
      "::ffff:127.0.0.0/104",
      "::127.0.0.0/104",
      "2002:7f00:0::/24",
    ]) {
      assert.ok(DEFAULT_DENY_RANGES.includes(range), range);
    }
    const listener = await countingListener();
    // An empty denyRanges adds nothing and removes nothing; an allow list lets only what it names.
    const safeFetch = createSafeFetch({ denyRanges: [], allowRanges: LOOPBACK_ONLY });
    for (const host of ["127.0.0.2", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:2]"]) {
      const error = await refusal(safeFetch(`http://${host}:${listener.port}/`));
      assert.equal(error.reason, "address-denied", host);
    }
    assert.equal(listener.connections, 0);
    await safeFetch.close();
    await listener.close();
  });

  it("extra denyRanges are refused on top of the defaults", async () => {
    const { lookup } = stubResolver({ "public.test": ["203.0.114.7"] });
    const safeFetch = createSafeFetch({ denyRanges: ["203.0.114.0/24"], lookup });
    const error = await refusal(safeFetch("http://public.test/"));
    assert.equal(error.reason, "address-denied");
    await safeFetch.close();
  });

  it("a proxy is refused unless explicitly opted in", () => {
    assert.throws(() => createSafeFetch({ proxy: "http://127.0.0.1:3128" }), /allowProxy/);
  });

  it("with an opted-in proxy, a denied target is refused before the proxy is contacted", async () => {
    const proxy = await countingListener();
    const { lookup } = stubResolver({ "intranet.test": ["10.0.0.9"] });
    const safeFetch = createSafeFetch({
      proxy: `http://127.0.0.1:${proxy.port}`,
      allowProxy: true,
      lookup,
    });
    for (const url of ["http://10.0.0.1/", "https://[::1]/", "http://intranet.test/"]) {
      const error = await refusal(safeFetch(url));
      assert.equal(error.reason, "address-denied", url);
    }
    assert.equal(proxy.connections, 0);
    await safeFetch.close();
    await proxy.close();
  });

  it("invalid options are refused with the option's name", () => {
    assert.throws(() => createSafeFetch({ maxRedirects: -1 }), /maxRedirects/);
    assert.throws(() => createSafeFetch({ timeoutMs: 0 }), /timeoutMs/);
    assert.throws(() => createSafeFetch({ maxBytes: 1.5 }), /maxBytes.*1\.5/);
    assert.throws(() => createSafeFetch({ allowRanges: ["10.0.0.1/8"] }), /allowRanges.*host bits/);
    assert.throws(() => createSafeFetch({ denyRanges: ["nope"] }), /denyRanges/);
    assert.throws(() => createSafeFetch({ userAgent: "a\r\nb" }), /userAgent/);
    for (const bad of [
      { maxRedirects: -1 },
      { maxBytes: 1.5 },
      { allowRanges: ["10.0.0.1/8"] },
      { userAgent: "a\r\nb" },
      { lookup: "8.8.8.8" as never },
      { proxy: "http://127.0.0.1:3128" },
    ]) {
      assert.throws(() => createSafeFetch(bad), ConfigError, JSON.stringify(bad));
    }
    assert.throws(
      () => createSafeFetch({ maxBytes: 1.5 }),
      /^ConfigError: createSafeFetch: expected options\.maxBytes to be an integer >= 0 but received 1\.5$/,
    );
  });
});
