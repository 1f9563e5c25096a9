// What one client may hold, on loopback: idle upload bodies, never-read downloads, concurrent
// uploads per user, resource exhaustion, the server's own timeouts, and a retry time on every
// 429. Timeouts are tiny here and every assertion is a generous bound on behaviour (closed
// within 10 s), never a tight timing.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { fsDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { ConfigError, MediaError } from "../../src/errors.js";
import { createMediaIdGenerator } from "../../src/ids/index.js";
import { memoryMetadataStore } from "../../src/metadata/memory.js";
import {
  applyServerTimeouts,
  createMediaHandler,
  DEFAULT_SERVER_TIMEOUTS,
  type MediaHandlerOptions,
  type MediaHandlerWithStats,
} from "../../src/http/index.js";
import {
  createMediaRepository,
  type MediaRepository,
  type MediaRepositoryOptions,
} from "../../src/repository/index.js";
import { tempDir } from "../harness/tmp.js";
import {
  createFixture,
  request,
  SERVER_NAME,
  TOKENS,
  upload,
  type Fixture,
  waitFor,
} from "./fixture.js";

const BOUND_MS = 10_000;
const authenticate: MediaHandlerOptions["authenticate"] = async (_req, { accessToken }) =>
  accessToken === TOKENS.alice
    ? { userId: "@alice:test.local" }
    : accessToken === TOKENS.bob
      ? { userId: "@bob:test.local" }
      : undefined;

function openFdCount(): Promise<number> {
  return readdir("/proc/self/fd").then((fds) => fds.length);
}

/** A client that sends the head of an upload and then `sent` body bytes of `declared`, and stalls. */
function stalledUpload(
  baseUrl: string,
  token: string,
  declared = 1_000,
  sent = 10,
): { socket: net.Socket; closed: Promise<void> } {
  const { port } = new URL(baseUrl);
  const socket = net.connect(Number(port), "127.0.0.1");
  socket.on("error", () => undefined);
  socket.write(
    `POST /_matrix/media/v3/upload?filename=x HTTP/1.1\r\nHost: x\r\n` +
      `Authorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Length: ${declared}\r\n\r\n${"a".repeat(sent)}`,
  );
  socket.resume();
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, closed };
}

function assertRetryable(
  res: { status: number; headers: http.IncomingHttpHeaders; json(): any },
  status: number,
  retryAfterMs: number,
): void {
  assert.equal(res.status, status);
  assert.equal(res.headers["retry-after"], String(Math.ceil(retryAfterMs / 1000)));
  assert.equal(res.json().retry_after_ms, retryAfterMs);
}

describe("upload body idle timeout", () => {
  let f: Fixture;
  before(async () => {
    f = await createFixture({ handler: { uploadIdleTimeoutMs: 300 } });
  });
  after(() => f.close());

  it("destroys a stalled upload's socket, discards its bytes and releases its descriptors", async () => {
    await upload(f.baseUrl, "warm-up", "text/plain"); // lazy imports open their files first
    const fdsBefore = await openFdCount();
    const filesBefore = (await f.files()).length;
    const { closed } = stalledUpload(f.baseUrl, TOKENS.alice);
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error("socket open")), BOUND_MS)),
    ]);
    await waitFor("upload idle counted", () => f.stats().uploadIdleTimeouts === 1);
    await waitFor("temp data discarded", async () => (await f.files()).length === filesBefore);
    await waitFor("descriptors released", async () => (await openFdCount()) <= fdsBefore);
    assert.equal(f.stats().clientAborts, 0, "a timeout is not also a client abort");
  });

  it("does not cut an upload that keeps sending", async () => {
    const { mediaId } = await upload(f.baseUrl, Buffer.alloc(256 * 1024, 1), "text/plain");
    assert.ok(mediaId);
  });
});

describe("response write-stall timeout", () => {
  const streams: Readable[] = [];
  let base: string;
  let handle: MediaHandlerWithStats;
  let repo: MediaRepository;
  const serverSockets: net.Socket[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    const dir = await tempDir("mmk-stall-");
    cleanups.push(() => dir.cleanup());
    const inner = fsDatastore({ root: path.join(dir.path, "media"), fsync: false });
    const datastore: Datastore = {
      ...inner,
      put: inner.put.bind(inner),
      head: inner.head.bind(inner),
      delete: inner.delete.bind(inner),
      async get(key, options) {
        const got = await inner.get(key, options);
        streams.push(got.stream);
        return got;
      },
    };
    repo = createMediaRepository({
      serverName: SERVER_NAME,
      ids: createMediaIdGenerator({ machineId: 9 }),
      datastore,
      metadata: memoryMetadataStore(),
      limits: { maxCachedBytes: 1024 },
    } satisfies MediaRepositoryOptions);
    cleanups.unshift(() => repo.close());
    handle = createMediaHandler(repo, { authenticate, writeStallTimeoutMs: 300 });
    const server = http.createServer((req, res) => void handle(req, res));
    server.on("connection", (socket) => serverSockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.unshift(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it("destroys a download the client stops reading and closes its datastore stream", async () => {
    // Far more than loopback's socket buffers hold, so the response must wait for the reader.
    const bytes = Buffer.alloc(48 * 1024 * 1024, 7);
    const { mxc } = await repo.upload(bytes, { uploader: "@alice:test.local" });
    const mediaId = mxc.split("/").pop()!;
    const client = net.connect(Number(new URL(base).port), "127.0.0.1");
    client.on("error", () => undefined);
    cleanups.unshift(async () => void client.destroy());
    client.pause(); // never reads
    client.write(
      `GET /_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId} HTTP/1.1\r\n` +
        `Host: x\r\nAuthorization: Bearer ${TOKENS.alice}\r\n\r\n`,
    );
    await waitFor("datastore stream opened", () => streams.length === 1);
    const stream = streams[0]!;
    await waitFor("datastore stream closed", () => stream.destroyed);
    await waitFor("server socket destroyed", () => serverSockets.every((s) => s.destroyed));
    assert.equal(handle.stats().writeStallTimeouts, 1);
  });

  it("lets a download that is read to the end finish", async () => {
    const { mxc } = await repo.upload(Buffer.alloc(8 * 1024 * 1024, 3), {
      uploader: "@alice:test.local",
    });
    const res = await request(
      base,
      "GET",
      `/_matrix/client/v1/media/download/${SERVER_NAME}/${mxc.split("/").pop()!}`,
      { token: TOKENS.alice },
    );
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 8 * 1024 * 1024);
    assert.equal(handle.stats().writeStallTimeouts, 1, "no new stall");
  });
});

describe("concurrent uploads per user", () => {
  let f: Fixture;
  before(async () => {
    f = await createFixture({ handler: { maxConcurrentUploadsPerUser: 2 } });
  });
  after(() => f.close());

  it("refuses the user's next upload with 429 and Retry-After, frees the slot when one ends", async () => {
    const stalled = [
      stalledUpload(f.baseUrl, TOKENS.alice),
      stalledUpload(f.baseUrl, TOKENS.alice),
    ];
    await waitFor("both uploads writing", async () => (await f.files()).length >= 2);
    const refused = await request(f.baseUrl, "POST", "/_matrix/media/v3/upload", {
      token: TOKENS.alice,
      body: "third",
    });
    assertRetryable(refused, 429, 5_000);
    assert.equal(refused.json().errcode, "M_LIMIT_EXCEEDED");
    assert.equal(f.stats().uploadsOverCap, 1);
    const other = await request(f.baseUrl, "POST", "/_matrix/media/v3/upload", {
      token: TOKENS.bob,
      body: "bob is not limited by alice",
    });
    assert.equal(other.status, 200);
    for (const { socket } of stalled) socket.destroy();
    await waitFor("a slot freed", async () => {
      const res = await request(f.baseUrl, "POST", "/_matrix/media/v3/upload", {
        token: TOKENS.alice,
        body: "again",
      });
      return res.status === 200;
    });
  });
});

describe("a retry time on every 429", () => {
  it("POST /create over maxPendingPerUser", async () => {
    const f = await createFixture({ limits: { maxPendingPerUser: 1 } });
    after(() => f.close());
    const create = () =>
      request(f.baseUrl, "POST", "/_matrix/media/v1/create", { token: TOKENS.alice });
    assert.equal((await create()).status, 200);
    const refused = await create();
    assertRetryable(refused, 429, 30_000);
    assert.equal(refused.json().errcode, "M_LIMIT_EXCEEDED");
  });

  it("the rate-limit hook, rounded up to whole seconds; a hook's NaN becomes the default", async () => {
    let wait = 1_500;
    const f = await createFixture({ handler: { rateLimit: () => wait } });
    after(() => f.close());
    const config = () =>
      request(f.baseUrl, "GET", "/_matrix/client/v1/media/config", { token: TOKENS.alice });
    assertRetryable(await config(), 429, 1_500);
    wait = Number.NaN;
    assertRetryable(await config(), 429, 5_000);
  });

  it("a 429 thrown without one by a hook gets the default", async () => {
    const f = await createFixture({
      handler: {
        authenticate: async () => {
          throw new MediaError("M_LIMIT_EXCEEDED", "slow down");
        },
      },
    });
    after(() => f.close());
    const res = await request(f.baseUrl, "GET", "/_matrix/client/v1/media/config", {
      token: TOKENS.alice,
    });
    assertRetryable(res, 429, 5_000);
  });

  it("a full thumbnail queue (503 M_LIMIT_EXCEEDED) keeps its retry time", async () => {
    const dir = await tempDir("mmk-queue-");
    after(() => dir.cleanup());
    const repo = createMediaRepository({
      serverName: SERVER_NAME,
      ids: createMediaIdGenerator({ machineId: 10 }),
      datastore: fsDatastore({ root: dir.path, fsync: false }),
      metadata: memoryMetadataStore(),
      thumbnailer: {
        generate: async () => {
          throw new MediaError("M_LIMIT_EXCEEDED", "Thumbnail queue is full", {
            status: 503,
            retryAfterMs: 1_200,
          });
        },
      },
    });
    after(() => repo.close());
    const errors: unknown[] = [];
    const handle = createMediaHandler(repo, {
      authenticate,
      logger: { warn: () => undefined, error: (m) => errors.push(m) },
    });
    const server = http.createServer((req, res) => void handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { mxc } = await repo.upload(Buffer.from("pixels"), {
      contentType: "image/png",
      uploader: "@alice:test.local",
    });
    const res = await request(
      base,
      "GET",
      `/_matrix/client/v1/media/thumbnail/${SERVER_NAME}/${mxc.split("/").pop()!}?width=32&height=32`,
      { token: TOKENS.alice },
    );
    assertRetryable(res, 503, 1_200);
    assert.deepEqual(errors, [], "a deliberate refusal is not an error line");
  });
});

describe("resource exhaustion", () => {
  it("answers EMFILE, ENFILE and ENOMEM with 503 and Retry-After, never 500", async () => {
    const dir = await tempDir("mmk-emfile-");
    after(() => dir.cleanup());
    const inner = fsDatastore({ root: dir.path, fsync: false });
    let code = "EMFILE";
    const datastore: Datastore = {
      ...inner,
      put: inner.put.bind(inner),
      head: inner.head.bind(inner),
      delete: inner.delete.bind(inner),
      async get() {
        throw Object.assign(new Error(`${code}: out of resources, open`), { code });
      },
    };
    const repo = createMediaRepository({
      serverName: SERVER_NAME,
      ids: createMediaIdGenerator({ machineId: 11 }),
      datastore,
      metadata: memoryMetadataStore(),
    });
    after(() => repo.close());
    const lines: Array<[string, string]> = [];
    const handle = createMediaHandler(repo, {
      authenticate,
      logger: { warn: (m) => lines.push(["warn", m]), error: (m) => lines.push(["error", m]) },
    });
    const server = http.createServer((req, res) => void handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { mxc } = await repo.upload(Buffer.from("bytes"), { uploader: "@alice:test.local" });
    const path_ = `/_matrix/client/v1/media/download/${SERVER_NAME}/${mxc.split("/").pop()!}`;
    for (const c of ["EMFILE", "ENFILE", "ENOMEM"]) {
      code = c;
      const res = await request(base, "GET", path_, { token: TOKENS.alice });
      assertRetryable(res, 503, 5_000);
      assert.equal(res.json().errcode, "M_UNKNOWN");
    }
    assert.equal(handle.stats().resourceExhausted, 3);
    assert.ok(
      lines.every(([level]) => level === "warn"),
      JSON.stringify(lines),
    );
  });
});

describe("applyServerTimeouts", () => {
  it("sets headers, request and keep-alive timeouts (requestTimeout never 0)", () => {
    const server = http.createServer();
    assert.deepEqual(applyServerTimeouts(server), DEFAULT_SERVER_TIMEOUTS);
    assert.equal(server.headersTimeout, DEFAULT_SERVER_TIMEOUTS.headersTimeoutMs);
    assert.equal(server.requestTimeout, DEFAULT_SERVER_TIMEOUTS.requestTimeoutMs);
    assert.equal(server.keepAliveTimeout, DEFAULT_SERVER_TIMEOUTS.keepAliveTimeoutMs);
    assert.notEqual(server.requestTimeout, 0);
    for (const bad of [
      { requestTimeoutMs: 0 },
      { headersTimeoutMs: -1 },
      { keepAliveTimeoutMs: 1.5 },
      { requestTimeoutMs: 2 ** 31 },
      { headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 },
    ]) {
      assert.throws(() => applyServerTimeouts(server, bad), ConfigError, JSON.stringify(bad));
    }
  });

  it("closes a connection whose headers never finish", async () => {
    const server = http.createServer({ connectionsCheckingInterval: 100 }, (_req, res) =>
      res.end(),
    );
    applyServerTimeouts(server, { headersTimeoutMs: 300, requestTimeoutMs: 600 });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const socket = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
    socket.on("error", () => undefined);
    socket.resume();
    socket.write("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error("socket open")), BOUND_MS)),
    ]);
  });
});

describe("createMediaHandler limit options", () => {
  it("refuses invalid timeouts, caps and auth options with a ConfigError naming them", async () => {
    const f = await createFixture();
    after(() => f.close());
    const cases: Array<[Partial<MediaHandlerOptions>, string]> = [
      [{ uploadIdleTimeoutMs: 0 }, "uploadIdleTimeoutMs"],
      [{ uploadIdleTimeoutMs: 2 ** 31 }, "uploadIdleTimeoutMs"],
      [{ writeStallTimeoutMs: 1.5 }, "writeStallTimeoutMs"],
      [{ writeStallTimeoutMs: "30" as never }, "writeStallTimeoutMs"],
      [{ maxConcurrentUploadsPerUser: 0 }, "maxConcurrentUploadsPerUser"],
      [{ auth: "yes" as never }, "auth"],
      [{ auth: { allowQueryToken: "no" as never } }, "auth.allowQueryToken"],
    ];
    for (const [options, option] of cases) {
      assert.throws(
        () => createMediaHandler(f.repo, { authenticate, ...options }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.option === option &&
          error.message.includes(option) &&
          error.message.includes("received"),
        option,
      );
    }
  });
});
