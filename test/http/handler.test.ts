// The handler's own contract: option checking, the request target adapters pass, and which
// layer refuses a request (syntax here, limits and thumbnail policy in the repository).
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import express from "express";
import Koa from "koa";
import { ConfigError } from "../../src/errors.js";
import { createMediaHandler, type MediaHandlerOptions } from "../../src/http/index.js";
import { mediaRouter } from "../../src/adapters/express.js";
import { mediaMiddleware } from "../../src/adapters/koa.js";
import { createFixture, request, SERVER_NAME, TOKENS, upload, type Fixture } from "./fixture.js";

const LIMIT = 64 * 1024;
const authenticate: MediaHandlerOptions["authenticate"] = async (_req, { accessToken }) =>
  accessToken === TOKENS.alice ? { userId: "@alice:test.local" } : undefined;

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("createMediaHandler options", () => {
  let f: Fixture;
  before(async () => {
    f = await createFixture();
  });
  after(() => f.close());

  it("refuses invalid options with a ConfigError naming the option", () => {
    const cases: Array<[unknown, unknown, string]> = [
      [{}, { authenticate }, "repo"],
      [undefined, { authenticate }, "repo"],
      ["repo", undefined, "options"],
      ["repo", {}, "authenticate"],
      ["repo", { authenticate: "yes" }, "authenticate"],
      ["repo", { authenticate, rateLimit: 5 }, "rateLimit"],
      ["repo", { authenticate, authenticateServer: true }, "authenticateServer"],
      ["repo", { authenticate, freezeLegacy: "yes" }, "freezeLegacy"],
      ["repo", { authenticate, freezeLegacy: { after: Number.NaN } }, "freezeLegacy"],
      ["repo", { authenticate, cacheControl: "" }, "cacheControl"],
      ["repo", { authenticate, cacheControl: "public\r\nX-Evil: 1" }, "cacheControl"],
    ];
    for (const [repo, options, option] of cases) {
      assert.throws(
        () => createMediaHandler((repo === "repo" ? f.repo : repo) as never, options as never),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.option === option &&
          error.message.includes(option) &&
          error.message.includes("received"),
        `options.${option}`,
      );
    }
  });
});

describe("request target", () => {
  let f: Fixture;
  before(async () => {
    f = await createFixture();
  });
  after(() => f.close());

  it("Express mounted under a path matches on originalUrl", async () => {
    const app = express();
    app.use("/_matrix", mediaRouter(f.repo, { authenticate }));
    const base = await listen(http.createServer(app));
    const res = await request(base, "GET", "/_matrix/client/v1/media/config", {
      token: TOKENS.alice,
    });
    assert.equal(res.status, 200);
    assert.equal(res.json()["m.upload.size"], f.repo.limits.maxUploadBytes);
  });

  it("Koa behind a prefix-stripping mount matches on ctx.originalUrl", async () => {
    const app = new Koa();
    // What koa-mount does: the downstream middleware sees the path without the prefix.
    app.use(async (ctx, next) => {
      if (ctx.path.startsWith("/_matrix/")) ctx.path = ctx.path.slice("/_matrix".length);
      await next();
    });
    app.use(mediaMiddleware(f.repo, { authenticate }));
    const callback = app.callback();
    const base = await listen(http.createServer((req, res) => void callback(req, res)));
    const res = await request(base, "GET", "/_matrix/client/v1/media/config", {
      token: TOKENS.alice,
    });
    assert.equal(res.status, 200);
  });

  it("node:http uses req.url; an explicit target wins over it", async () => {
    const handle = createMediaHandler(f.repo, { authenticate });
    const base = await listen(
      http.createServer((req, res) => {
        const target = req.url === "/rewritten" ? { url: "/_matrix/media/v3/config" } : undefined;
        void handle(req, res, target).then((handled) => {
          if (!handled) res.writeHead(418).end();
        });
      }),
    );
    const direct = await request(base, "GET", "/_matrix/media/v3/config", { token: TOKENS.alice });
    assert.equal(direct.status, 200);
    const rewritten = await request(base, "GET", "/rewritten", { token: TOKENS.alice });
    assert.equal(rewritten.status, 200);
    const other = await request(base, "GET", "/elsewhere", { token: TOKENS.alice });
    assert.equal(other.status, 418);
  });
});

describe("who refuses what", () => {
  let f: Fixture;
  before(async () => {
    f = await createFixture({ limits: { maxUploadBytes: LIMIT } });
  });
  after(() => f.close());

  it("a declared Content-Length over the repository's limit is 413 before the body is sent", async () => {
    const callsBefore = f.datastoreSpy.calls;
    const socket = net.connect(Number(new URL(f.baseUrl).port), "127.0.0.1");
    after(() => socket.destroy());
    await new Promise((resolve) => socket.once("connect", resolve));
    // Headers only: the client holds the body back, so only a refusal that reads nothing
    // can answer.
    socket.write(
      "POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: x\r\n" +
        `Authorization: Bearer ${TOKENS.alice}\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`,
    );
    const response = await new Promise<string>((resolve, reject) => {
      let text = "";
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes("}")) resolve(text);
      });
      socket.once("error", reject);
    });
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.match(response, /"errcode":"M_TOO_LARGE"/);
    assert.match(response, /connection: close/i);
    assert.equal(f.datastoreSpy.calls, callsBefore, "no datastore call");
  });

  it("thumbnail sizes and methods: syntax errors here, policy errors from the repository", async () => {
    const { mediaId } = await upload(f.baseUrl, "not an image", "text/plain");
    const base = `/_matrix/client/v1/media/thumbnail/${SERVER_NAME}/${mediaId}`;
    const cases: Array<[string, number, string]> = [
      ["?height=32", 400, "M_MISSING_PARAM"],
      ["?width=32&height=abc", 400, "M_INVALID_PARAM"],
      ["?width=32&height=32&animated=maybe", 400, "M_INVALID_PARAM"],
      ["?width=0&height=32", 400, "M_INVALID_PARAM"],
      ["?width=32&height=32&method=stretch", 400, "M_INVALID_PARAM"],
      ["?width=32&height=32&method=", 400, "M_INVALID_PARAM"],
    ];
    for (const [query, status, errcode] of cases) {
      const res = await request(f.baseUrl, "GET", base + query, { token: TOKENS.alice });
      assert.equal(res.status, status, query);
      assert.equal(res.json().errcode, errcode, query);
    }
  });
});
