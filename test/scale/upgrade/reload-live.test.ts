// What a reload (SIGHUP) applies live on an in-process server: a datastore flipped to readOnly
// receives no new blobs while its media stays downloadable, a lowered maxUploadBytes answers
// 413 M_TOO_LARGE, a lowered maxConcurrentUploadsPerUser 429, a lowered uploadIdleTimeoutMs
// closes a stalled upload; a config that would leave no writable datastore is refused with
// one error line and changes nothing.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseMxc } from "../../../src/index.js";
import { startMediaServer, type MediaServer } from "../../../src/server/index.js";
import type { ServerLogger } from "../../../src/server/index.js";
import { eventually } from "../../../src/testing/eventually.js";
import { tempDir } from "../../harness/tmp.js";
import { ALICE, req, resolveConfig } from "../../server/helpers.js";

const UPLOAD = "/_matrix/media/v3/upload";
/** Where fsDatastore streams an upload before renaming it into place. */
const TMP_DIR = ".tmp";

describe("reload applies limits and datastore flags live", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: MediaServer;
  const errors: string[] = [];
  const logger: ServerLogger = {
    info: () => undefined,
    warn: () => undefined,
    error: (message) => void errors.push(message),
  };
  let readOnly = { a: false, b: false };
  // No rate limit: a 429 here can only come from the concurrent-upload bound.
  let limits: Record<string, unknown> = { rateLimit: false };
  const config = () =>
    resolveConfig(
      {
        serverName: "media.test",
        listen: { port: 0 },
        datastores: [
          {
            id: "a",
            type: "fs",
            kinds: ["local", "remote", "thumbnail", "preview"],
            root: "a",
            readOnly: readOnly.a,
          },
          { id: "b", type: "fs", kinds: ["local"], root: "b", readOnly: readOnly.b },
        ],
        metadata: { embedded: "metadata" },
        auth: { tokens: { [ALICE]: "@alice:media.test" } },
        thumbnails: { enabled: false },
        limits,
      },
      { MACHINE_ID: "6" },
      dir.path,
    );
  const upload = async (body: string) => {
    const res = await req(server.url, UPLOAD, { method: "POST", token: ALICE, body });
    return { status: res.status, json: res.json() };
  };
  const datastoreOf = async (uri: unknown) => {
    const { origin, mediaId } = parseMxc(String(uri));
    return (await server.repository.lookup(origin, mediaId)).datastoreId;
  };

  before(async () => {
    dir = await tempDir("mmk-reload-live-");
    server = await startMediaServer(config(), { logger, loadConfig: config });
  });
  after(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  it("sends new uploads past a datastore flipped to readOnly, which keeps serving", async () => {
    const first = await upload("stored in a");
    assert.equal(first.status, 200);
    assert.equal(await datastoreOf(first.json.content_uri), "a");

    readOnly = { a: true, b: false };
    const result = await server.reload();
    assert.deepEqual(result.applied, ["datastores.a.readOnly"]);
    assert.deepEqual(result.restartNeeded, []);
    const second = await upload("stored in b");
    assert.equal(second.status, 200);
    assert.equal(await datastoreOf(second.json.content_uri), "b");
    const path = String(first.json.content_uri).replace(
      "mxc://",
      "/_matrix/client/v1/media/download/",
    );
    const old = await req(server.url, path, { token: ALICE });
    assert.equal(old.status, 200);
    assert.equal(old.body.toString(), "stored in a");
  });

  it("refuses a config with no writable local datastore and keeps the old flags", async () => {
    readOnly = { a: true, b: true };
    await assert.rejects(server.reload(), /writable/);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /config reload refused/);
    const still = await upload("still into b");
    assert.equal(still.status, 200);
    assert.equal(await datastoreOf(still.json.content_uri), "b");

    readOnly = { a: false, b: false };
    assert.deepEqual((await server.reload()).applied, ["datastores.a.readOnly"]);
    assert.equal(await datastoreOf((await upload("back in a")).json.content_uri), "a");
  });

  it("answers 413 M_TOO_LARGE past a lowered maxUploadBytes", async () => {
    assert.equal((await upload("x".repeat(2000))).status, 200);
    limits = { rateLimit: false, maxUploadBytes: 1000 };
    const result = await server.reload();
    assert.deepEqual(result.applied, ["limits.maxUploadBytes"]);
    const big = await upload("x".repeat(2000));
    assert.equal(big.status, 413);
    assert.equal(big.json.errcode, "M_TOO_LARGE");
    const config = await req(server.url, "/_matrix/client/v1/media/config", { token: ALICE });
    assert.equal(config.json()["m.upload.size"], 1000);
    assert.equal((await upload("small")).status, 200);
  });

  it("answers 429 past a lowered maxConcurrentUploadsPerUser", async () => {
    limits = { rateLimit: false, maxUploadBytes: 1000, maxConcurrentUploadsPerUser: 1 };
    assert.deepEqual((await server.reload()).applied, ["limits.maxConcurrentUploadsPerUser"]);
    // An upload that holds its slot: its body never ends.
    const { port, hostname } = new URL(server.url);
    const held = connect(Number(port), hostname);
    held.on("error", () => undefined);
    held.write(
      `POST ${UPLOAD} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ALICE}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nx`,
    );
    held.resume();
    try {
      // Admitted once its bytes are streaming into a temporary file of datastore "a".
      const tmp = path.join(dir.path, "a", TMP_DIR);
      await eventually("the held upload streaming", 20_000, async () => {
        const names = await readdir(tmp).catch(() => []);
        return names.length > 0 ? true : undefined;
      });
      const refused = await upload("second");
      assert.equal(refused.status, 429);
      assert.equal(refused.json.errcode, "M_LIMIT_EXCEEDED");
      assert.match(String(refused.json.error), /maxConcurrentUploadsPerUser is 1/);
    } finally {
      held.destroy();
    }
    // Raised again, a second upload beside a held one is accepted.
    limits = { rateLimit: false, maxUploadBytes: 1000, maxConcurrentUploadsPerUser: 2 };
    assert.deepEqual((await server.reload()).applied, ["limits.maxConcurrentUploadsPerUser"]);
    assert.equal((await upload("third")).status, 200);
  });

  it("aborts an upload idle past a lowered uploadIdleTimeoutMs", async () => {
    limits = { rateLimit: false, maxUploadBytes: 1000, uploadIdleTimeoutMs: 300 };
    const result = await server.reload();
    assert.deepEqual(result.applied.sort(), [
      "limits.maxConcurrentUploadsPerUser",
      "limits.uploadIdleTimeoutMs",
    ]);
    const { port, hostname } = new URL(server.url);
    const stalled = connect(Number(port), hostname);
    stalled.on("error", () => undefined);
    const closed = new Promise<void>((resolve) => stalled.once("close", () => resolve()));
    const started = performance.now();
    stalled.write(
      `POST ${UPLOAD} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ALICE}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nx`,
    );
    stalled.resume();
    // The default (30 s) would keep it open far longer than this.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("still open after 20 s")), 20_000);
    });
    await Promise.race([closed, deadline]).finally(() => clearTimeout(timer));
    assert.ok(performance.now() - started < 20_000, "closed by the lowered idle timeout");
  });
});
