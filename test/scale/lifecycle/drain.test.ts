// SIGTERM drains: a trickled upload in flight either completes within shutdown.drainMs or
// is aborted after it, leaving no blob, record or temporary file; /readyz answers 503 on
// connections still open during the drain; the process exits 0.
import assert from "node:assert/strict";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { sqliteMetadataStore } from "../../../src/metadata/sqlite.js";
import {
  baseConfig,
  filesUnder,
  notBuilt,
  rawConnection,
  startIn,
  stopChild,
  tempConfig,
  uploadHead,
} from "./child.js";

async function uploadsOf(dir: string): Promise<number> {
  const store = sqliteMetadataStore({ directory: path.join(dir, "data/metadata") });
  try {
    return (await store.listMediaByUploader("@alice:media.test")).items.length;
  } finally {
    await store.close();
  }
}

describe("SIGTERM drains in-flight requests", { skip: notBuilt }, () => {
  it("lets a trickled upload finish, answers /readyz 503 meanwhile, exits 0", async () => {
    const cfg = await tempConfig(baseConfig({ shutdown: { drainMs: 60_000 } }));
    const child = await startIn(cfg);
    try {
      const before = await rawConnection(child.port);
      await before.send(`GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal((await before.response())?.status, 200);
      before.destroy();

      const body = Buffer.alloc(4000, 7);
      const upload = await rawConnection(child.port);
      await upload.send(uploadHead(child.port, body.length) + body.subarray(0, 1000).toString());
      // Headers not yet complete: the connection is not idle, so the drain keeps it.
      const probe = await rawConnection(child.port);
      await probe.send(`GET /readyz HTTP/1.1\r\nHost: x\r\n`);
      await sleep(500);
      child.process.kill("SIGTERM");
      await child.waitFor(/"msg":"draining","inFlight":1/);

      await probe.send("\r\n");
      const readiness = await probe.response();
      assert.equal(readiness?.status, 503);
      assert.match(readiness.body, /draining/);

      for (let offset = 1000; offset < body.length; offset += 1000) {
        await sleep(100);
        assert.ok(await upload.send(body.subarray(offset, offset + 1000)), "upload socket open");
      }
      const answer = await upload.response();
      assert.equal(answer?.status, 200, answer?.body);
      assert.match(answer.body, /mxc:\/\/media\.test\//);
      assert.match(answer.headers, /connection: close/i);
      assert.equal(await child.exited, 0);
      assert.doesNotMatch(child.output(), /drain deadline passed/);
      assert.equal(await uploadsOf(cfg.dir), 1);
      const files = await filesUnder(path.join(cfg.dir, "data/media"));
      assert.equal(files.filter((f) => !f.endsWith(".tmp")).length, 1, files.join(", "));
      assert.equal(files.filter((f) => f.endsWith(".tmp")).length, 0, files.join(", "));
    } finally {
      await stopChild(child);
      await cfg.remove();
    }
  });

  it("aborts an upload still trickling at drainMs: no blob, record or temp file", async () => {
    const cfg = await tempConfig(baseConfig({ shutdown: { drainMs: 1_000 } }));
    const child = await startIn(cfg);
    try {
      const upload = await rawConnection(child.port);
      await upload.send(uploadHead(child.port, 100_000) + Buffer.alloc(5_000, 1).toString());
      await sleep(500);
      child.process.kill("SIGTERM");
      await child.waitFor(/"msg":"draining","inFlight":1/);
      // Keeps trickling: only the deadline stops it.
      const trickle = (async () => {
        while (await upload.send(Buffer.alloc(100, 1))) await sleep(100);
      })();
      await child.waitFor(/drain deadline passed/);
      await upload.closed();
      await trickle;
      assert.equal(await child.exited, 0);
      assert.equal(await uploadsOf(cfg.dir), 0);
      assert.deepEqual(await filesUnder(path.join(cfg.dir, "data/media")), []);
    } finally {
      await stopChild(child);
      await cfg.remove();
    }
  });
});
