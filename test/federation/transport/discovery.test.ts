import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { createFederationClient } from "../../../src/federation/client.js";
import { createServerDiscovery } from "../../../src/federation/discovery.js";
import { parseServerName } from "../../../src/federation/server-name.js";
import { createSafeFetch } from "../../../src/preview/safe-fetch.js";
import { PEER_RANGES, lookup, srvResolver, startPeers, totalConnections } from "./helpers.js";
import type { Peers } from "./helpers.js";

describe("parseServerName", () => {
  it("splits hosts, ports and IP literals, and refuses invalid names", () => {
    assert.deepEqual(parseServerName("[::1]:8448"), { host: "::1", port: 8448, ip: 6 });
    assert.deepEqual(parseServerName("[2001:db8::1]"), { host: "2001:db8::1", ip: 6 });
    assert.deepEqual(parseServerName("1.2.3.4:80"), { host: "1.2.3.4", port: 80, ip: 4 });
    assert.deepEqual(parseServerName("Matrix.ORG"), { host: "matrix.org" });
    for (const bad of ["", "a/b", "x:0", "x:70000", "[::1", "::1", "a..b"]) {
      assert.throws(() => parseServerName(bad), { errcode: "M_INVALID_PARAM", status: 400 }, bad);
    }
  });
});

describe("createServerDiscovery", () => {
  let peers: Peers;
  let safeFetch: ReturnType<typeof createSafeFetch>;
  let clock = 1_000_000;
  const now = () => clock;
  let wellKnown: Record<
    string,
    { status?: number; body: string; headers?: Record<string, string> }
  >;

  before(async () => {
    peers = await startPeers();
    safeFetch = createSafeFetch({ allowRanges: PEER_RANGES, lookup, tls: { ca: peers.ca } });
    peers.handler = (req, res) => {
      const host = (req.headers.host ?? "").split(":")[0]!;
      if (req.url === "/.well-known/matrix/server") {
        const answer = wellKnown[host];
        if (answer === undefined) return void res.writeHead(404).end();
        res.writeHead(answer.status ?? 200, {
          "content-type": "application/json",
          ...answer.headers,
        });
        return void res.end(answer.body);
      }
      if (req.url === "/_matrix/key/v2/server") {
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ server_name: host }));
      }
      res.writeHead(404).end();
    };
  });
  after(async () => {
    await safeFetch.close();
    await peers.close();
  });
  beforeEach(() => {
    peers.requests.length = 0;
    wellKnown = {};
  });

  const discovery = (table: Parameters<typeof srvResolver>[0] = {}) => {
    const srv = srvResolver(table);
    return {
      srv,
      d: createServerDiscovery({
        fetch: safeFetch,
        resolveSrv: srv.resolveSrv,
        now,
        wellKnownPort: peers.port,
      }),
    };
  };

  it("uses IP literals and explicit ports as they are, without any request", async () => {
    const { d, srv } = discovery();
    const before = totalConnections(peers);
    assert.deepEqual(await d.resolve("127.0.0.2"), {
      url: "https://127.0.0.2",
      hostHeader: "127.0.0.2",
      connectTo: { host: "127.0.0.2", port: 8448 },
      tlsName: "127.0.0.2",
    });
    assert.deepEqual(await d.resolve("[::1]:1234"), {
      url: "https://[::1]:1234",
      hostHeader: "[::1]:1234",
      connectTo: { host: "::1", port: 1234 },
      tlsName: "::1",
    });
    assert.deepEqual((await d.resolve("b.test:4321")).connectTo, { host: "b.test", port: 4321 });
    assert.equal((await d.resolve("b.test:4321")).hostHeader, "b.test:4321");
    assert.equal(totalConnections(peers), before);
    assert.deepEqual(srv.calls, []);
  });

  it("follows a well-known delegation with a port; Host and SNI are the delegated name", async () => {
    wellKnown["b.test"] = { body: JSON.stringify({ "m.server": `delegated.test:${peers.port}` }) };
    const { d, srv } = discovery();
    const target = await d.resolve("b.test");
    assert.deepEqual(target.connectTo, { host: "delegated.test", port: peers.port });
    assert.equal(target.hostHeader, `delegated.test:${peers.port}`);
    assert.deepEqual(srv.calls, []);
    const client = createFederationClient({
      serverName: "ours.test",
      authorize: () => "X-Matrix test",
      discovery: d,
      allowRanges: PEER_RANGES,
      lookup,
      tls: { ca: peers.ca },
    });
    assert.deepEqual(await client.getJson("b.test", "/_matrix/key/v2/server"), {
      server_name: "delegated.test",
    });
    const seen = peers.requests.at(-1)!;
    assert.equal(seen.ip, "127.0.0.3");
    assert.equal(seen.host, `delegated.test:${peers.port}`);
    assert.equal(seen.servername, "delegated.test");
    assert.equal(seen.authorization, "X-Matrix test");
    await client.close();
  });

  it("a delegated name without a port uses SRV _matrix-fed; Host stays the delegated name", async () => {
    wellKnown["b.test"] = { body: JSON.stringify({ "m.server": "delegated.test" }) };
    const { d, srv } = discovery({
      "_matrix-fed._tcp.delegated.test": [{ name: "srv.test", port: peers.port }],
    });
    const target = await d.resolve("b.test");
    assert.deepEqual(target, {
      url: "https://delegated.test",
      hostHeader: "delegated.test",
      connectTo: { host: "srv.test", port: peers.port },
      tlsName: "delegated.test",
    });
    assert.deepEqual(srv.calls, ["_matrix-fed._tcp.delegated.test"]);
    const res = await safeFetch(`${target.url}/_matrix/key/v2/server`, {
      connectTo: target.connectTo,
    });
    assert.deepEqual(JSON.parse(await res.text()), { server_name: "delegated.test" });
    const seen = peers.requests.at(-1)!;
    assert.equal(seen.ip, "127.0.0.4");
    assert.equal(seen.host, "delegated.test");
    assert.equal(seen.servername, "delegated.test");
  });

  it("without well-known: _matrix-fed, then the deprecated _matrix, then 8448", async () => {
    const { d, srv } = discovery({
      "_matrix-fed._tcp.b.test": [
        { name: "srv.test", port: 1111, priority: 10 },
        { name: "media.test", port: 2222, priority: 5 },
      ],
      "_matrix._tcp.delegated.test": [{ name: "srv.test.", port: 3333 }],
    });
    assert.deepEqual((await d.resolve("b.test")).connectTo, { host: "media.test", port: 2222 });
    const old = await d.resolve("delegated.test");
    assert.deepEqual(old.connectTo, { host: "srv.test", port: 3333 });
    assert.equal(old.hostHeader, "delegated.test");
    const plain = await d.resolve("legacy.test");
    assert.deepEqual(plain.connectTo, { host: "legacy.test", port: 8448 });
    assert.equal(plain.tlsName, "legacy.test");
    assert.deepEqual(srv.calls, [
      "_matrix-fed._tcp.b.test",
      "_matrix-fed._tcp.delegated.test",
      "_matrix._tcp.delegated.test",
      "_matrix-fed._tcp.legacy.test",
      "_matrix._tcp.legacy.test",
    ]);
  });

  it("picks among equal priorities by weight with the injected random", async () => {
    const table = {
      "_matrix-fed._tcp.b.test": [
        { name: "srv.test", port: 1, weight: 1 },
        { name: "media.test", port: 2, weight: 3 },
      ],
    };
    const pick = async (r: number) => {
      const srv = srvResolver(table);
      const d = createServerDiscovery({
        fetch: safeFetch,
        resolveSrv: srv.resolveSrv,
        random: () => r,
        wellKnownPort: peers.port,
      });
      return (await d.resolve("b.test")).connectTo.host;
    };
    assert.equal(await pick(0.1), "srv.test");
    assert.equal(await pick(0.5), "media.test");
  });

  it("caches well-known answers per Cache-Control, failures for an hour, SRV answers", async () => {
    wellKnown["b.test"] = {
      body: JSON.stringify({ "m.server": "delegated.test:1" }),
      headers: { "cache-control": "max-age=600" },
    };
    const { d, srv } = discovery();
    const wellKnownRequests = () =>
      peers.requests.filter((r) => r.path === "/.well-known/matrix/server").length;
    await d.resolve("b.test");
    clock += 9 * 60_000;
    await d.resolve("b.test");
    assert.equal(wellKnownRequests(), 1);
    clock += 2 * 60_000;
    await d.resolve("b.test");
    assert.equal(wellKnownRequests(), 2);

    wellKnown["delegated.test"] = { body: "not json" };
    assert.equal((await d.resolve("delegated.test")).connectTo.port, 8448);
    clock += 59 * 60_000;
    await d.resolve("delegated.test");
    assert.equal(wellKnownRequests(), 3);
    assert.equal(srv.calls.filter((c) => c === "_matrix-fed._tcp.delegated.test").length, 1);
    clock += 2 * 60_000;
    await d.resolve("delegated.test");
    assert.equal(wellKnownRequests(), 4);
    assert.equal(srv.calls.filter((c) => c === "_matrix-fed._tcp.delegated.test").length, 2);
  });

  it("defaults to 24 h and caps at 48 h; ignores an invalid m.server", async () => {
    wellKnown["b.test"] = { body: JSON.stringify({ "m.server": "delegated.test:1" }) };
    wellKnown["media.test"] = {
      body: JSON.stringify({ "m.server": "x:1" }),
      headers: { "cache-control": "max-age=9999999" },
    };
    wellKnown["srv.test"] = { body: JSON.stringify({ "m.server": "bad/name" }) };
    const { d } = discovery();
    const count = (host: string) =>
      peers.requests.filter((r) => r.host === `${host}:${peers.port}`).length;
    await d.resolve("b.test");
    await d.resolve("media.test");
    assert.equal((await d.resolve("srv.test")).connectTo.host, "srv.test");
    clock += 23 * 3_600_000;
    await d.resolve("b.test");
    assert.equal(count("b.test"), 1);
    clock += 2 * 3_600_000;
    await d.resolve("b.test");
    await d.resolve("media.test");
    assert.equal(count("b.test"), 2);
    assert.equal(count("media.test"), 1);
    clock += 24 * 3_600_000;
    await d.resolve("media.test");
    assert.equal(count("media.test"), 2);
  });

  it("reaches a server on the default port 8448 when it is free", async (t) => {
    const stop = await peers.listenExtra("127.0.0.6", 8448);
    if (stop === null) return t.skip("127.0.0.6:8448 is in use on this machine");
    try {
      const { d } = discovery();
      const target = await d.resolve("legacy.test");
      const res = await safeFetch(`${target.url}/_matrix/key/v2/server`, {
        connectTo: target.connectTo,
      });
      assert.deepEqual(JSON.parse(await res.text()), { server_name: "legacy.test" });
      assert.equal(peers.requests.at(-1)!.host, "legacy.test");
    } finally {
      await stop();
    }
  });
});
