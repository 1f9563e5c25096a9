// A RemoteMediaSource over a real loopback HTTP server (node:http): the body is streamed to
// the datastore while the response is still arriving, and a deadline closes the connection.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { MediaError } from "../../../src/errors.js";
import type { RemoteMedia, RemoteMediaSource } from "../../../src/repository/index.js";
import { assertNothingStored, gate, REMOTE, rejectsWith, setup } from "./helpers.js";

const HALF = 4 * 1024 * 1024;
const PIECE = 64 * 1024;
const BODY = Buffer.alloc(2 * HALF);
for (let i = 0; i < BODY.length; i += 4) BODY.writeUInt32LE(i, i);

/** Largest temporary file in the fs datastore's `.tmp` directory, in bytes. */
async function largestTemp(root: string): Promise<number> {
  const dir = path.join(root, ".tmp");
  let largest = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const size = await stat(path.join(dir, name)).then(
      (s) => s.size,
      () => 0,
    );
    largest = Math.max(largest, size);
  }
  return largest;
}

describe("remote media: streamed from a loopback HTTP server", () => {
  let server: http.Server;
  let port = 0;
  let resume = gate();
  let endlessClosed = gate();

  function writeFrom(res: http.ServerResponse, start: number, end: number): Promise<void> {
    return new Promise((resolve) => {
      let at = start;
      const next = (): void => {
        while (at < end) {
          const piece = BODY.subarray(at, Math.min(at + PIECE, end));
          at += piece.length;
          if (!res.write(piece)) return void res.once("drain", next);
        }
        resolve();
      };
      next();
    });
  }

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/split") {
        res.writeHead(200, { "content-type": "image/png", "content-length": BODY.length });
        void writeFrom(res, 0, HALF)
          .then(() => resume.promise)
          .then(() => writeFrom(res, HALF, BODY.length))
          .then(() => res.end());
      } else if (req.url === "/endless") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const timer = setInterval(() => res.write(Buffer.alloc(1024)), 5);
        res.on("close", () => {
          clearInterval(timer);
          endlessClosed.open();
        });
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  let chunks = 0;
  const source: RemoteMediaSource = {
    download: (_origin, mediaId, { signal }) =>
      new Promise<RemoteMedia>((resolve, reject) => {
        const req = http.get({ host: "127.0.0.1", port, path: `/${mediaId}`, signal }, (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return reject(new MediaError("M_NOT_FOUND", "Media not found"));
          }
          const length = res.headers["content-length"];
          resolve({
            contentType: res.headers["content-type"],
            contentLength: length === undefined ? undefined : Number(length),
            stream: (async function* () {
              for await (const chunk of res) {
                chunks++;
                yield chunk as Buffer;
              }
            })(),
          });
        });
        req.on("error", (error) =>
          reject(new MediaError("M_UNKNOWN", "Remote unreachable", { status: 502, cause: error })),
        );
      }),
  };

  it("writes the first half to disk before the second half is sent", async () => {
    resume = gate();
    chunks = 0;
    const s = await setup({ source, timeoutMs: 60_000, lockTtlMs: 90_000 });
    const lookup = s.repo.lookup(REMOTE, "split");
    // The server holds back the second half until at least 2 MiB are in the datastore's
    // temporary file: a repository that buffered the whole body would never get there.
    const until = performance.now() + 30_000;
    while ((await largestTemp(s.root)) < HALF / 2) {
      assert.ok(performance.now() < until, "the first half never reached the datastore");
      await new Promise((r) => setTimeout(r, 20));
    }
    resume.open();
    const record = await lookup;
    assert.equal(record.size, BODY.length);
    assert.equal(record.sha256, createHash("sha256").update(BODY).digest("hex"));
    assert.equal(record.contentType, "image/png");
    assert.ok(chunks > 8, `streamed in many chunks (${chunks})`);
  });

  it("a remote 404 over HTTP is a 404", async () => {
    const s = await setup({ source });
    await rejectsWith(s.repo.lookup(REMOTE, "missing"), "M_NOT_FOUND", 404);
  });

  it("an endless body is cut at the deadline and the connection closed", async () => {
    endlessClosed = gate();
    const s = await setup({ source, timeoutMs: 500 });
    await rejectsWith(s.repo.lookup(REMOTE, "endless"), "M_UNKNOWN", 504);
    await endlessClosed.promise; // the server saw the connection go
    await assertNothingStored(s, "endless");
  });
});
