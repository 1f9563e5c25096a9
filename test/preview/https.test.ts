import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import https from "node:https";
import type net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { SafeFetchError, createSafeFetch } from "../../src/preview/index.js";
import { requireService } from "../harness/require.js";
import { tempDir } from "../harness/tmp.js";
import { LOOPBACK_ONLY, countingListener, dials, stubResolver } from "./helpers.js";
import type { CountingListener } from "./helpers.js";

describe("createSafeFetch over https", () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let cert: Buffer;
  let server: https.Server;
  let port = 0;
  let listener: CountingListener;
  let requests = 0;

  before(async () => {
    const openssl = requireService("openssl", "openssl");
    dir = await tempDir("mmk-preview-tls-");
    const key = path.join(dir.path, "key.pem");
    const crt = path.join(dir.path, "cert.pem");
    execFileSync(openssl, [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      crt,
      "-days",
      "2",
      "-subj",
      "/CN=secure.test",
      "-addext",
      "subjectAltName=DNS:secure.test",
    ]);
    cert = readFileSync(crt);
    listener = await countingListener();
    server = https.createServer({ key: readFileSync(key), cert }, (req, res) => {
      requests++;
      if (req.url === "/to-private") {
        res.writeHead(302, { location: `https://10.0.0.1:${listener.port}/` });
      } else if (req.url === "/to-loopback-v6") {
        res.writeHead(301, { location: `http://[::1]:${listener.port}/` });
      } else {
        res.writeHead(200, { "content-type": "text/plain" });
      }
      res.end(`secure ${req.url}`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await listener.close();
    await dir.cleanup();
  });

  it("dials the checked IP but verifies the certificate against the hostname (SNI kept)", async () => {
    const { lookup } = stubResolver({ "secure.test": ["127.0.0.1"] });
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, lookup, tls: { ca: cert } });
    const mark = dials.length;
    const res = await safeFetch(`https://secure.test:${port}/hello`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "secure /hello");
    assert.deepEqual(dials.slice(mark), ["127.0.0.1"]);
    await safeFetch.close();
  });

  it("an untrusted certificate fails as a network error (no silent downgrade)", async () => {
    const { lookup } = stubResolver({ "secure.test": ["127.0.0.1"] });
    const safeFetch = createSafeFetch({ allowRanges: LOOPBACK_ONLY, lookup });
    await assert.rejects(
      safeFetch(`https://secure.test:${port}/`),
      (e) => e instanceof SafeFetchError && e.reason === "network",
    );
    await safeFetch.close();
  });

  it("https redirects to private addresses are refused at that hop, whatever the TLS settings", async () => {
    const { lookup } = stubResolver({ "secure.test": ["127.0.0.1"] });
    const safeFetch = createSafeFetch({
      allowRanges: LOOPBACK_ONLY,
      lookup,
      tls: { rejectUnauthorized: false },
    });
    const before = requests;
    for (const p of ["/to-private", "/to-loopback-v6"]) {
      await assert.rejects(
        safeFetch(`https://secure.test:${port}${p}`),
        (e) => e instanceof SafeFetchError && e.reason === "address-denied",
      );
    }
    assert.equal(requests - before, 2);
    assert.equal(listener.connections, 0);
    await safeFetch.close();
    // And without an allow list, rejectUnauthorized: false does not open loopback either.
    const strict = createSafeFetch({ tls: { rejectUnauthorized: false } });
    await assert.rejects(
      strict(`https://127.0.0.1:${port}/`),
      (e) => e instanceof SafeFetchError && e.reason === "address-denied",
    );
    assert.equal(requests - before, 2);
    await strict.close();
  });
});
