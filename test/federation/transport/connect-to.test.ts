import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSafeFetch } from "../../../src/preview/safe-fetch.js";
import { PEER_RANGES, dials, lookup, startPeers } from "./helpers.js";
import type { Peers } from "./helpers.js";

describe("SafeFetchInit.connectTo", () => {
  let peers: Peers;
  let safeFetch: ReturnType<typeof createSafeFetch>;

  before(async () => {
    peers = await startPeers();
    safeFetch = createSafeFetch({ allowRanges: PEER_RANGES, lookup, tls: { ca: peers.ca } });
    peers.handler = (req, res) => {
      if (req.url === "/redirect")
        return void res
          .writeHead(302, { location: `https://media.test:${peers.port}/after` })
          .end();
      if (req.url === "/same-origin") return void res.writeHead(302, { location: "/after" }).end();
      res.writeHead(200).end(`ok ${req.url}`);
    };
  });
  after(async () => {
    await safeFetch.close();
    await peers.close();
  });

  it("dials the target, keeps the URL's Host and SNI; redirects drop it and the Authorization", async () => {
    const res = await safeFetch(`https://b.test:${peers.port}/redirect`, {
      connectTo: { host: "srv.test", port: peers.port },
      headers: { authorization: "X-Matrix secret" },
    });
    assert.equal(await res.text(), "ok /after");
    const [first, second] = peers.requests.slice(-2);
    assert.deepEqual(
      [first!.ip, first!.host, first!.servername, first!.authorization],
      ["127.0.0.4", `b.test:${peers.port}`, "b.test", "X-Matrix secret"],
    );
    assert.deepEqual([second!.ip, second!.authorization], ["127.0.0.5", undefined]);
  });

  it("a same-origin redirect of a connectTo call dials the URL's own host, without Authorization", async () => {
    const res = await safeFetch(`https://media.test:${peers.port}/same-origin`, {
      connectTo: { host: "srv.test", port: peers.port },
      headers: { authorization: "X-Matrix secret" },
    });
    assert.equal(await res.text(), "ok /after");
    const [first, second] = peers.requests.slice(-2);
    assert.deepEqual([first!.ip, first!.authorization], ["127.0.0.4", "X-Matrix secret"]);
    assert.deepEqual(
      [second!.ip, second!.host, second!.authorization],
      ["127.0.0.5", `media.test:${peers.port}`, undefined],
    );
  });

  it("checks the target's addresses with the same guard", async () => {
    const mark = dials.length;
    await assert.rejects(
      safeFetch(`https://b.test:${peers.port}/`, {
        connectTo: { host: "private.test", port: peers.port },
      }),
      { reason: "address-denied" },
    );
    assert.ok(!dials.slice(mark).includes("127.0.0.7"));
  });

  it("verifies the certificate against the URL's host, not the target's", async () => {
    await assert.rejects(
      safeFetch(`https://unlisted.example:${peers.port}/`, {
        connectTo: { host: "srv.test", port: peers.port },
      }),
      { reason: "network" },
    );
  });

  it("refuses invalid targets", async () => {
    await assert.rejects(
      safeFetch("https://b.test/", { connectTo: { host: "", port: 1 } }),
      TypeError,
    );
    await assert.rejects(
      safeFetch("https://b.test/", { connectTo: { host: "x", port: 70000 } }),
      TypeError,
    );
  });
});
