// The built package, imported the way a user does (through the `exports` map), in a fresh
// process: the public names are there, a preview works end to end, and neither sharp,
// ioredis, pg nor the AWS SDK is loaded.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { runBuiltScript } from "../harness/built.js";

const root = path.resolve(import.meta.dirname, "../..");

const script = `
import http from "node:http";
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(path.join(root, "package.json"))});
const preview = await import("matrix-media-kit/preview");
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end('<head><meta property="og:title" content="Built"></head>');
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = "http://127.0.0.1:" + server.address().port;
const refusing = preview.createSafeFetch();
let refused = null;
try { await refusing(origin + "/"); } catch (e) { refused = { reason: e.reason, errcode: e.errcode, status: e.status }; }
const safeFetch = preview.createSafeFetch({ allowRanges: ["127.0.0.1/32"] });
const result = await preview.createPreviewFetcher({ fetch: safeFetch }).preview(origin + "/page");
await safeFetch.close();
await refusing.close();
server.close();
const heavy = Object.keys(require.cache).filter((k) => /node_modules\\/(sharp|ioredis|pg|@aws-sdk)\\//.test(k));
console.log(JSON.stringify({ names: Object.keys(preview).sort(), title: result.og["og:title"], refused, heavy }));
`;

describe("matrix-media-kit/preview (built package)", () => {
  it("exports the public API, previews through the guard, loads no heavy dependency", () => {
    const out = runBuiltScript<{
      names: string[];
      title: string;
      refused: { reason: string; errcode: string; status: number } | null;
      heavy: string[];
    }>(script, ["dist/preview/index.js"]);
    for (const name of [
      "createSafeFetch",
      "createPreviewFetcher",
      "DEFAULT_DENY_RANGES",
      "isAddressAllowed",
      "createAddressPolicy",
      "SafeFetchError",
      "memoryPreviewCache",
    ]) {
      assert.ok(out.names.includes(name), `${name} is exported`);
    }
    // The repository caches previews itself; a second cache over the same table is gone.
    assert.ok(!out.names.includes("metadataPreviewCache"));
    assert.equal(out.title, "Built");
    assert.deepEqual(out.refused, {
      reason: "address-denied",
      errcode: "M_FORBIDDEN",
      status: 403,
    });
    assert.deepEqual(out.heavy, []);
  });
});
