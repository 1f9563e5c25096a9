// The standalone's observability: /metrics on a listener of its own, request IDs on every
// response and log line, and tokens kept out of the logs.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MediaServer, ServerLogger } from "../../src/server/index.js";
import { tempDir } from "../harness/tmp.js";
import { ALICE, req, resolveConfig, startServer, uploadMedia } from "./helpers.js";

type Line = { level: string; msg: string; details: Record<string, unknown> };

function recordingLogger(): ServerLogger & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (msg: string, details: Record<string, unknown> = {}) =>
      lines.push({ level, msg, details });
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

describe("standalone metrics listener and request IDs", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: MediaServer;
  const logger = recordingLogger();

  before(async () => {
    dir = await tempDir();
    const config = resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0 },
        auth: { tokens: { [ALICE]: "@alice:media.test" }, allowQueryToken: true },
        metrics: { listen: { host: "127.0.0.1", port: 0 } },
      },
      {},
      dir.path,
    );
    server = await startServer(config, logger);
  });
  after(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  it("serves /metrics on its own port and counts the media port's requests", async () => {
    assert.ok(server.metricsUrl, "metricsUrl");
    assert.notEqual(new URL(server.metricsUrl).port, new URL(server.url).port);
    const media = await uploadMedia(server.url, ALICE, "counted", "text/plain");
    const download = await req(server.url, `/_matrix/client/v1/media/download/${media}`, {
      token: ALICE,
    });
    assert.equal(download.status, 200);
    const scrape = await fetch(server.metricsUrl);
    assert.equal(scrape.status, 200);
    assert.match(scrape.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await scrape.text();
    assert.match(
      text,
      /matrix_media_http_requests_total\{route="download",method="GET",status="200"\} 1/,
    );
    assert.match(text, /matrix_media_uploads_total\{kind="local"\} 1/);
    assert.ok(!text.includes(media.split("/")[1]!), "a media ID in the exposition");
    // Never on the media port.
    assert.equal((await req(server.url, "/metrics")).status, 404);
    assert.equal((await fetch(new URL("/other", server.metricsUrl))).status, 404);
  });

  it("echoes a sane X-Request-Id, replaces a bad one, and tags the request's log lines", async () => {
    const path = "/_matrix/client/v1/media/config";
    const echoed = await req(server.url, path, {
      token: ALICE,
      headers: { "x-request-id": "trace-1234.abc" },
    });
    assert.equal(echoed.headers.get("x-request-id"), "trace-1234.abc");
    const replaced = await req(server.url, path, {
      token: ALICE,
      headers: { "x-request-id": `bad id ${"x".repeat(200)}` },
    });
    const generated = replaced.headers.get("x-request-id") ?? "";
    assert.match(generated, /^[0-9a-f-]{36}$/);
    // A query-string token is logged (a deprecation warning) with the request's ID, not the token.
    const before = logger.lines.length;
    const withQueryToken = await req(server.url, `${path}?access_token=${ALICE}`, {
      headers: { "x-request-id": "query-token-request" },
    });
    assert.equal(withQueryToken.status, 200);
    const warning = logger.lines.slice(before).find((l) => /query string/.test(l.msg));
    assert.ok(warning, JSON.stringify(logger.lines.slice(before)));
    assert.equal(warning.details.requestId, "query-token-request");
    assert.ok(!JSON.stringify(logger.lines).includes(ALICE), "a token in the logs");
  });

  it("closes the metrics listener on shutdown", async () => {
    const url = server.metricsUrl!;
    await server.close();
    await assert.rejects(fetch(url));
  });
});

describe("metrics config", () => {
  it("refuses unknown keys and bad ports, naming the key", () => {
    assert.throws(
      () => resolveConfig({ metrics: { listen: { port: 70000 } } }, {}, "/tmp"),
      /metrics\.listen\.port/,
    );
    assert.throws(() => resolveConfig({ metrics: { lisen: {} } }, {}, "/tmp"), /metrics\.lisen/);
    assert.throws(() => resolveConfig({ metrics: { maxOrigins: -2 } }, {}, "/tmp"), /maxOrigins/);
    const config = resolveConfig({}, {}, "/tmp");
    assert.deepEqual(config.metrics, { maxOrigins: 100 });
  });
});
