// A scripted hostile "remote server" on loopback HTTPS, fetched through the whole path
// (createFederation's client → repository → fs datastore): each answer is refused with a clear
// Matrix error, nothing is recorded, no blob or temp file is left, and the process is fine.
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createMediaRepository, MediaError, type MediaRepository } from "../../../src/index.js";
import { memoryCoordinator } from "../../../src/coordination/index.js";
import { fsDatastore } from "../../../src/datastore/index.js";
import {
  createFederation,
  generateSigningKey,
  type Federation,
} from "../../../src/federation/index.js";
import { createMediaIdGenerator } from "../../../src/ids/index.js";
import { memoryMetadataStore } from "../../../src/metadata/index.js";
import { files } from "../../repository/remote/helpers.js";
import { tempDir } from "../../harness/tmp.js";
import { createTestCertificates } from "../keys/helpers.js";

type Script = (req: IncomingMessage, res: ServerResponse) => void;

const BOUNDARY = "b0undary";
const multipart = (json: string, partHead: string, body: string, close = true) =>
  `--${BOUNDARY}\r\nContent-Type: application/json\r\n\r\n${json}\r\n--${BOUNDARY}\r\n${partHead}\r\n\r\n${body}` +
  (close ? `\r\n--${BOUNDARY}--\r\n` : "");
const MULTIPART = `multipart/mixed; boundary=${BOUNDARY}`;

const SCRIPTS: Record<string, { script: Script; errcode: string; status: number }> = {
  "more bytes than the cap": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": MULTIPART });
      res.end(multipart("{}", "Content-Type: text/plain", "x".repeat(200_000)));
    },
    errcode: "M_TOO_LARGE",
    status: 502,
  },
  "a declared length larger than the cap": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": MULTIPART, "content-length": "999999999" });
      res.end(multipart("{}", "Content-Type: text/plain", "tiny"));
    },
    errcode: "M_TOO_LARGE",
    status: 502,
  },
  "a body that never ends (trickle past the deadline)": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": MULTIPART });
      res.write(
        `--${BOUNDARY}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${BOUNDARY}\r\n\r\n`,
      );
      const timer = setInterval(() => res.write("x"), 100);
      res.on("close", () => clearInterval(timer));
    },
    errcode: "M_UNKNOWN",
    status: 504,
  },
  "no boundary": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": "multipart/mixed" });
      res.end(multipart("{}", "Content-Type: text/plain", "bytes"));
    },
    errcode: "M_UNKNOWN",
    status: 502,
  },
  "a missing second part": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": MULTIPART });
      res.end(`--${BOUNDARY}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${BOUNDARY}--\r\n`);
    },
    errcode: "M_UNKNOWN",
    status: 502,
  },
  "a truncated multipart (no closing delimiter)": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": MULTIPART });
      res.end(multipart("{}", "Content-Type: text/plain", "half of it", false));
    },
    errcode: "M_UNKNOWN",
    status: 502,
  },
  "an HTML error page with 200": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html><body>Oops</body></html>");
    },
    errcode: "M_UNKNOWN",
    status: 502,
  },
  "a Location to a private address": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": MULTIPART });
      res.end(multipart("{}", "Location: http://10.0.0.1/secret", ""));
    },
    errcode: "M_UNKNOWN",
    status: 502,
  },
  "a Location to file:": {
    script: (_req, res) => {
      res.writeHead(200, { "content-type": MULTIPART });
      res.end(multipart("{}", "Location: file:///etc/passwd", ""));
    },
    errcode: "M_UNKNOWN",
    status: 502,
  },
};

describe("a hostile remote server, through the whole fetch path", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: https.Server;
  let origin: string;
  let script: Script = (_req, res) => res.end();
  let federation: Federation;
  let repo: MediaRepository;
  const metadata = memoryMetadataStore();
  const errors: unknown[] = [];
  const onUnhandled = (error: unknown) => errors.push(error);

  before(async () => {
    process.on("unhandledRejection", onUnhandled);
    dir = await tempDir("mmk-hostile-");
    const certs = await createTestCertificates();
    server = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) =>
      script(req, res),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.5", r));
    origin = `127.0.0.5:${(server.address() as AddressInfo).port}`;
    federation = createFederation({
      serverName: "us.test",
      signingKey: generateSigningKey(),
      client: { allowRanges: ["127.0.0.5/32"], tls: { ca: certs.ca } },
    });
    repo = createMediaRepository({
      serverName: "us.test",
      ids: createMediaIdGenerator({ machineId: 1 }),
      datastore: fsDatastore({ root: path.join(dir.path, "media") }),
      metadata,
      remote: {
        source: federation.mediaSource,
        coordinator: memoryCoordinator(),
        maxBytes: 100_000,
        timeoutMs: 1_500,
        // Every script is a fresh failure: no backoff between the cases.
        failureBackoffMs: 1,
        maxFailureBackoffMs: 1,
      },
    });
  });
  after(async () => {
    process.off("unhandledRejection", onUnhandled);
    await repo.close();
    await federation.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await dir.cleanup();
  });

  let n = 0;
  for (const [name, { script: s, errcode, status }] of Object.entries(SCRIPTS)) {
    it(`refuses ${name}: ${status} ${errcode}, nothing stored`, async () => {
      script = s;
      const mediaId = `hostile${n++}`;
      await new Promise((r) => setTimeout(r, 5));
      const error = await repo.lookup(origin, mediaId).then(
        () => assert.fail("expected a refusal"),
        (e: unknown) => e,
      );
      assert.ok(MediaError.is(error), String(error));
      assert.equal(error.errcode, errcode, error.message);
      assert.equal(error.status, status, error.message);
      assert.equal(await metadata.getMedia(origin, mediaId), undefined, "no record");
      assert.deepEqual(await files(path.join(dir.path, "media")), [], "no blob, no temp file");
      assert.deepEqual(errors, [], "no unhandled rejection");
    });
  }

  it("still fetches a well-formed answer afterwards (the process is fine)", async () => {
    script = (_req, res) => {
      res.writeHead(200, { "content-type": MULTIPART });
      res.end(
        multipart(
          "{}",
          "Content-Type: text/plain\r\nContent-Disposition: inline; filename=ok.txt",
          "fine",
        ),
      );
    };
    await new Promise((r) => setTimeout(r, 5));
    const { record, body } = await repo.download(origin, "wellformed");
    assert.equal(record.kind, "remote");
    assert.equal(record.filename, "ok.txt");
    assert.equal(record.size, 4);
    assert.ok(body.buffer || body.stream);
  });
});
