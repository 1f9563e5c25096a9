import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import sharp from "sharp";
import {
  compileUrlBlocklist,
  createAddressPolicy,
  detectCharset,
  extractHtmlMetadata,
  isAddressAllowed,
  parseCidr,
  parseIpAddress,
  readImageInfo,
} from "../../src/preview/index.js";

describe("address policy", () => {
  it("classifies addresses as the socket dials them", () => {
    const denied = [
      "127.0.0.1",
      "127.255.255.254",
      "0.0.0.0",
      "10.9.8.7",
      "100.64.0.1",
      "169.254.169.254",
      "172.31.255.255",
      "192.168.0.1",
      "198.18.0.1",
      "224.0.0.1",
      "255.255.255.255",
      "::",
      "::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:a00:1",
      "::127.0.0.1",
      "::a00:1",
      "2002:7f00:1::",
      "2002:c0a8:1::1",
      "64:ff9b::7f00:1",
      "64:ff9b::808:808",
      "64:ff9b:1::1",
      "100::1",
      "2001:db8::1",
      "fc00::1",
      "fd12:3456::1",
      "fe80::1",
      "fe80::1%eth0",
      "fec0::1",
      "ff02::1",
      "[::1]",
    ];
    for (const address of denied) assert.equal(isAddressAllowed(address), false, address);
    const allowed = [
      "8.8.8.8",
      "93.184.215.14",
      "172.32.0.1",
      "2606:4700:4700::1111",
      "::ffff:8.8.8.8",
      "2002:808:808::1",
    ];
    for (const address of allowed) assert.equal(isAddressAllowed(address), true, address);
    // Not IP literals: refused (fail closed).
    for (const address of ["example.org", "127.1", "2130706433", "", "1.2.3.4.5", "::g"]) {
      assert.equal(isAddressAllowed(address), false, address);
    }
  });

  it("an allow list lets through exactly what it names", () => {
    const policy = createAddressPolicy({ allowRanges: ["127.0.0.1/32", "fd00::/8"] });
    assert.equal(policy.isAllowed("127.0.0.1"), true);
    assert.equal(policy.isAllowed("127.0.0.2"), false);
    assert.equal(policy.isAllowed("::ffff:127.0.0.1"), false);
    assert.equal(policy.isAllowed("fd00::5"), true);
    assert.equal(policy.isAllowed("fc00::5"), false);
    assert.equal(isAddressAllowed("8.8.4.4", { denyRanges: ["8.8.4.0/24"] }), false);
  });

  it("parses IPv6 forms and refuses malformed CIDRs", () => {
    assert.equal(parseIpAddress("::ffff:1.2.3.4")?.value, 0xffff01020304n);
    assert.equal(parseIpAddress("1:2:3:4:5:6:7:8")?.value, 0x00010002000300040005000600070008n);
    assert.equal(parseIpAddress("1::")?.value, 1n << 112n);
    assert.equal(parseIpAddress("1.2.3"), undefined);
    assert.deepEqual(parseCidr("10.0.0.0/8").prefix, 8);
    assert.equal(parseCidr("::1").prefix, 128);
    assert.throws(() => parseCidr("10.0.0.1/8"), /host bits/);
    assert.throws(() => parseCidr("10.0.0.0/33"), /prefix length/);
    assert.throws(() => parseCidr("example.org/8"), /Expected a CIDR/);
  });
});

describe("charset detection", () => {
  const b = (s: string): Buffer => Buffer.from(s, "latin1");
  it("BOM, then meta, then XML declaration, then header, then UTF-8", () => {
    assert.equal(
      detectCharset(Buffer.from([0xef, 0xbb, 0xbf, 0x3c]), "text/html; charset=latin1"),
      "utf-8",
    );
    assert.equal(detectCharset(Buffer.from([0xfe, 0xff, 0, 0x3c])), "utf-16be");
    assert.equal(
      detectCharset(b('<meta charset="Shift_JIS">'), "text/html; charset=utf-8"),
      "shift_jis",
    );
    assert.equal(
      detectCharset(b('<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">')),
      "koi8-r",
    );
    assert.equal(
      detectCharset(b('<?xml version="1.0" encoding="ISO-8859-2"?><html>')),
      "iso-8859-2",
    );
    assert.equal(detectCharset(b("<html>"), 'text/html; charset="euc-kr"'), "euc-kr");
    assert.equal(detectCharset(b("<html>")), "utf-8");
  });
  it("a UTF-16 or unknown label from the prescan is not trusted", () => {
    assert.equal(detectCharset(b('<meta charset="utf-16">')), "utf-8");
    assert.equal(
      detectCharset(b('<meta charset="x-no-such">'), "text/html; charset=windows-1251"),
      "windows-1251",
    );
    assert.equal(detectCharset(b('<meta charset="x-user-defined">')), "windows-1252");
    assert.equal(detectCharset(b("<p>"), "text/html; charset=bogus"), "utf-8");
  });
});

describe("html extraction", () => {
  it("parses a shift_jis page correctly", () => {
    const sjis = Buffer.concat([
      Buffer.from('<meta charset="shift_jis"><title>'),
      Buffer.from([0x93, 0xfa, 0x96, 0x7b]), // 日本
      Buffer.from("</title>"),
    ]);
    assert.equal(extractHtmlMetadata(sjis, { url: "https://a.test/" }).og["og:title"], "日本");
  });
  it("stops at </head> when the head has title, description and image", () => {
    const page = Buffer.from(
      `<head><meta property="og:title" content="T"><meta property="og:description" content="D">` +
        `<meta property="og:image" content="i.png"></head><body>${"<p>x</p>".repeat(100_000)}`,
    );
    const result = extractHtmlMetadata(page, { url: "https://a.test/dir/" });
    assert.equal(result.stoppedEarly, true);
    assert.equal(result.og["og:image"], "https://a.test/dir/i.png");
  });
  it("ignores a title inside svg, script text and non-http image URLs", () => {
    const page = Buffer.from(
      `<html><head><script>var t = "<title>no</title>";</script></head><body><svg><title>icon</title></svg>` +
        `<img src="data:image/png;base64,AAAA"><img src="javascript:alert(1)"><p>Real text</p>`,
    );
    const { og } = extractHtmlMetadata(page, { url: "https://a.test/" });
    assert.equal(og["og:title"], undefined);
    assert.equal(og["og:description"], "Real text");
    assert.equal(og["og:image"], undefined);
  });
  it("ignores tracking pixels in <noscript>; a body element before <body> starts the body", () => {
    const page = Buffer.from(
      `<head><title>T</title><noscript><img src="/px.gif"></noscript></head>` +
        `<body><img src="/real.png"></body>`,
    );
    assert.equal(
      extractHtmlMetadata(page, { url: "https://a.test/" }).og["og:image"],
      "https://a.test/real.png",
    );
    const bodyless = Buffer.from(`<title>T</title><img src="/first.png"><span>hello</span>`);
    const { og } = extractHtmlMetadata(bodyless, { url: "https://a.test/" });
    assert.equal(og["og:image"], "https://a.test/first.png");
    assert.equal(og["og:description"], "hello");
  });

  it("summarises long body text at a word boundary", () => {
    const page = Buffer.from(`<title>t</title><body><p>${"word ".repeat(400)}</p>`);
    const description = extractHtmlMetadata(page, { url: "https://a.test/" }).og["og:description"]!;
    assert.ok(description.length <= 500);
    assert.ok(description.endsWith("word…"));
  });
});

describe("image header parsing", () => {
  it("reads PNG, JPEG, GIF, WebP (lossy, lossless, extended) dimensions", async () => {
    const base = sharp({
      create: {
        width: 279,
        height: 129,
        channels: 4,
        background: { r: 1, g: 2, b: 3, alpha: 0.5 },
      },
    });
    const cases: Array<[Buffer, string]> = [
      [await base.clone().png().toBuffer(), "image/png"],
      [await base.clone().jpeg().toBuffer(), "image/jpeg"],
      [await base.clone().jpeg({ progressive: true }).toBuffer(), "image/jpeg"],
      [await base.clone().gif().toBuffer(), "image/gif"],
      [await base.clone().webp({ lossless: false }).toBuffer(), "image/webp"],
      [await base.clone().webp({ lossless: true }).toBuffer(), "image/webp"],
      [
        await base.clone().webp({ lossless: false, alphaQuality: 50 }).withMetadata().toBuffer(),
        "image/webp",
      ],
    ];
    for (const [data, type] of cases) {
      assert.deepEqual(readImageInfo(data), { contentType: type, width: 279, height: 129 }, type);
    }
    assert.equal(readImageInfo(Buffer.from("<svg/>")), undefined);
    assert.equal(readImageInfo(Buffer.alloc(0)), undefined);
    assert.equal(readImageInfo(cases[0]![0].subarray(0, 20)), undefined);
  });
});

describe("url blocklist", () => {
  it("matches every component a rule names", () => {
    const list = compileUrlBlocklist([
      { hostname: "*.example.com" },
      { scheme: "http", port: "8080" },
      { username: "^admin$" },
    ]);
    assert.equal(list.isBlocked("https://a.b.example.com/"), true);
    assert.equal(list.isBlocked("https://example.com/"), false);
    assert.equal(list.isBlocked("http://x.test:8080/"), true);
    assert.equal(list.isBlocked("https://x.test:8080/"), false);
    assert.equal(list.isBlocked("https://admin:pw@x.test/"), true);
    assert.equal(list.isBlocked("https://administrator@x.test/"), false);
  });
});

describe("the preview entry point", () => {
  it("imports none of sharp, ioredis, pg or the AWS SDK", () => {
    const dir = path.resolve(import.meta.dirname, "../../src/preview");
    const forbidden = /from\s+["'](sharp|ioredis|pg|@aws-sdk\/[^"']*)["']/;
    for (const file of readdirSync(dir)) {
      const text = readFileSync(path.join(dir, file), "utf8");
      assert.doesNotMatch(text, forbidden, file);
      for (const match of text.matchAll(/from\s+["'](\.\.?\/[^"']+)["']/g)) {
        const target = match[1]!;
        assert.ok(
          target.startsWith("./") ||
            target === "../errors.js" ||
            target === "../internal/single-flight.js" ||
            target === "../internal/abortable.js",
          `${file} imports ${target}`,
        );
      }
    }
    // And at run time: loading the entry point pulls none of them in.
    const probe = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `import("./src/preview/index.ts").then(() => {
          const loaded = Object.keys(require.cache ?? {}).concat(process.moduleLoadList ?? []);
          console.log(JSON.stringify(loaded.filter((m) => /node_modules\\/(sharp|ioredis|pg|@aws-sdk)\\//.test(m))));
        })`,
      ],
      { cwd: path.resolve(import.meta.dirname, "../.."), encoding: "utf8" },
    );
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stdout.trim().split("\n").pop(), "[]");
  });
});
