// The built package, imported through the `exports` map in a fresh process: the HTTP
// handler and both adapters are there, and none of them loads express, koa, sharp, the AWS
// SDK, ioredis or pg (the adapters use only the frameworks' types).
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { runBuiltScript } from "../harness/built.js";

const root = path.resolve(import.meta.dirname, "../..");

const script = `
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(path.join(root, "package.json"))});
const loaded = (name) => Object.keys(require.cache).some((k) => k.includes("/node_modules/" + name + "/"));
const http = await import("matrix-media-kit/http");
const express = await import("matrix-media-kit/express");
const koa = await import("matrix-media-kit/koa");
console.log(JSON.stringify({
  http: Object.keys(http).sort(),
  express: Object.keys(express).sort(),
  koa: Object.keys(koa).sort(),
  heavy: ["express", "koa", "sharp", "@aws-sdk", "ioredis", "pg"].filter(loaded),
}));
`;

describe("matrix-media-kit/http, /express, /koa (built package)", () => {
  it("export the handler and adapters without loading heavy dependencies", () => {
    const out = runBuiltScript(script, [
      "dist/http/index.js",
      "dist/adapters/express.js",
      "dist/adapters/koa.js",
    ]);
    for (const name of [
      "createMediaHandler",
      "contentDisposition",
      "parseRange",
      "SECURITY_HEADERS",
    ]) {
      assert.ok(out.http.includes(name), `${name} is exported from /http`);
    }
    assert.deepEqual(out.express, ["mediaRouter"]);
    assert.deepEqual(out.koa, ["mediaMiddleware"]);
    assert.deepEqual(out.heavy, []);
  });
});
