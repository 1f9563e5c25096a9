// The metrics subpath over real components: requests through the handler, uploads,
// thumbnails, the thumbnail queue, cache tiers, datastore puts, federation and jobs.
import assert from "node:assert/strict";
import { channel } from "node:diagnostics_channel";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import sharp from "sharp";
import { memoryCoordinator } from "../../src/coordination/index.js";
import { fsDatastore } from "../../src/datastore/index.js";
import { ConfigError } from "../../src/errors.js";
import { createMetrics, type MediaMetrics } from "../../src/metrics/index.js";
import { createBackgroundJobs, createLeaderElection } from "../../src/scale/index.js";
import { eventually } from "../../src/testing/eventually.js";
import { createJobQueue } from "../../src/thumbnail/queue.js";
import { tempDir } from "../harness/tmp.js";
import {
  createFixture,
  request,
  SERVER_NAME,
  TOKENS,
  upload,
  type Fixture,
} from "../http/fixture.js";
import { countOf, seriesOf, valueOf } from "./helpers.js";

const P = "matrix_media_";

describe("createMetrics over a real handler", () => {
  let f: Fixture;
  let metrics: MediaMetrics;
  let registry: Registry;
  let mediaId: string;

  before(async () => {
    registry = new Registry();
    metrics = await createMetrics({ registry });
    f = await createFixture();
    const png = await sharp({
      create: { width: 64, height: 48, channels: 3, background: "#3a6" },
    })
      .png()
      .toBuffer();
    ({ mediaId } = await upload(f.baseUrl, png, "image/png"));
    const download = `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`;
    for (let i = 0; i < 3; i++) {
      const res = await request(f.baseUrl, "GET", download, { token: TOKENS.alice });
      assert.equal(res.status, 200);
    }
    const thumb = `/_matrix/client/v1/media/thumbnail/${SERVER_NAME}/${mediaId}?width=32&height=32&method=scale`;
    assert.equal((await request(f.baseUrl, "GET", thumb, { token: TOKENS.alice })).status, 200);
    const missing = `/_matrix/client/v1/media/download/${SERVER_NAME}/nosuchmediaAAAAAA`;
    assert.equal((await request(f.baseUrl, "GET", missing, { token: TOKENS.alice })).status, 404);
    assert.equal((await request(f.baseUrl, "GET", download)).status, 401);
    await request(f.baseUrl, "GET", "/_matrix/client/v1/media/nope", { token: TOKENS.alice });
  });
  after(async () => {
    metrics.dispose();
    await f.close();
  });

  it("counts requests by route, method and status, with latency and bytes", async () => {
    await eventually("the last response to be counted", 10_000, async () =>
      (await valueOf(registry, `${P}http_requests_total`)) >= 8 ? true : undefined,
    );
    const ok = { route: "download", method: "GET", status: "200" };
    assert.equal(await valueOf(registry, `${P}http_requests_total`, ok), 3);
    const notFound = { route: "download", method: "GET", status: "404" };
    assert.equal(await valueOf(registry, `${P}http_requests_total`, notFound), 1);
    const unauth = { route: "download", status: "401" };
    assert.equal(await valueOf(registry, `${P}http_requests_total`, unauth), 1);
    const upload = { route: "upload", method: "POST", status: "200" };
    assert.equal(await valueOf(registry, `${P}http_requests_total`, upload), 1);
    const thumb = { route: "thumbnail", status: "200" };
    assert.equal(await valueOf(registry, `${P}http_requests_total`, thumb), 1);
    assert.ok((await valueOf(registry, `${P}http_requests_total`, { route: "unrecognized" })) >= 1);
    const latency = { route: "download", method: "GET" };
    assert.equal(await countOf(registry, `${P}http_request_duration_seconds`, latency), 5);
    // Three bodies of the PNG at least went out; the upload's body came in.
    assert.ok((await valueOf(registry, `${P}http_sent_bytes_total`, { route: "download" })) > 300);
    assert.ok(
      (await valueOf(registry, `${P}http_received_bytes_total`, { route: "upload" })) > 100,
    );
  });

  it("never labels a series with a media ID, a user ID or a URL", async () => {
    const text = await metrics.metrics();
    assert.ok(!text.includes(mediaId), "media ID in the exposition");
    assert.ok(!text.includes("@alice"), "user ID in the exposition");
    assert.ok(!text.includes("/_matrix"), "URL in the exposition");
  });

  it("counts uploads, thumbnails, cache lookups and datastore puts", async () => {
    assert.equal(await valueOf(registry, `${P}uploads_total`, { kind: "local" }), 1);
    assert.ok((await valueOf(registry, `${P}upload_bytes_total`)) > 100);
    assert.ok((await valueOf(registry, `${P}thumbnails_generated_total`)) >= 1);
    assert.ok((await countOf(registry, `${P}thumbnail_duration_seconds`)) >= 1);
    assert.ok((await valueOf(registry, `${P}thumbnail_requests_total`)) >= 1);
    const lookups = await seriesOf(registry, `${P}cache_lookups_total`);
    assert.ok(
      lookups.some((l) => l.cache === "memory"),
      JSON.stringify(lookups),
    );
    const put = { op: "put" };
    assert.ok((await valueOf(registry, `${P}datastore_operations_total`, put)) >= 1);
    assert.ok((await countOf(registry, `${P}datastore_operation_duration_seconds`, put)) >= 1);
    assert.ok((await valueOf(registry, `${P}datastore_written_bytes_total`)) > 100);
  });

  it("stops counting after dispose()", async () => {
    const own = new Registry();
    const other = await createMetrics({ registry: own });
    other.dispose();
    await upload(f.baseUrl, Buffer.from("after dispose"), "text/plain");
    assert.equal(await valueOf(own, `${P}uploads_total`), 0);
    assert.equal(await valueOf(registry, `${P}uploads_total`), 2);
  });
});

describe("createMetrics gauges, bounds and jobs", () => {
  let metrics: MediaMetrics;
  let registry: Registry;
  before(async () => {
    registry = new Registry();
    metrics = await createMetrics({ registry, prefix: "kit_", maxOrigins: 3 });
  });
  after(() => metrics.dispose());

  it("reports the thumbnail queue's depth", async () => {
    const queue = createJobQueue(1, 5, 1000);
    const release = await queue.acquire();
    const second = queue.acquire();
    assert.equal(await valueOf(registry, "kit_thumbnail_queue_active"), 1);
    assert.equal(await valueOf(registry, "kit_thumbnail_queue_waiting"), 1);
    release();
    (await second)();
    assert.equal(await valueOf(registry, "kit_thumbnail_queue_waiting"), 0);
    assert.equal(await valueOf(registry, "kit_thumbnail_queue_active"), 0);
  });

  it("keeps at most maxOrigins origins; the rest count as other", async () => {
    const remote = channel("matrix-media-kit:repository:remote");
    for (let i = 0; i < 10; i++) {
      remote.publish({
        origin: `peer${i}.example`,
        mediaId: `m${i}`,
        bytes: 10,
        ms: 5,
        outcome: "stored",
      });
    }
    remote.publish({ origin: "peer9.example", mediaId: "x", bytes: 0, ms: 5, outcome: "timeout" });
    const origins = new Set(
      (await seriesOf(registry, "kit_federation_fetches_total")).map((l) => l.origin),
    );
    assert.deepEqual([...origins].sort(), [
      "other",
      "peer0.example",
      "peer1.example",
      "peer2.example",
    ]);
    assert.equal(await valueOf(registry, "kit_federation_fetches_total", { origin: "other" }), 8);
    assert.equal(
      await valueOf(registry, "kit_federation_fetch_failures_total", { origin: "other" }),
      1,
    );
  });

  it("times datastore reads and counts failures, not missing blobs", async () => {
    const dir = await tempDir("mmk-metrics-ds-");
    try {
      const store = fsDatastore({ id: "disk", root: dir.path, fsync: false });
      const { key } = await store.put(Buffer.from("blob"));
      const { stream } = await store.get(key);
      for await (const _ of stream);
      assert.equal(await store.head("0".repeat(64)), undefined);
      await assert.rejects(store.get("1".repeat(64)), { errcode: "M_NOT_FOUND" });
      async function* broken() {
        yield Buffer.from("half");
        throw new Error("source broke");
      }
      await assert.rejects(store.put(broken()), /source broke/);
      const get = { datastore: "disk", op: "get" };
      assert.equal(await countOf(registry, "kit_datastore_operation_duration_seconds", get), 2);
      assert.equal(await valueOf(registry, "kit_datastore_errors_total", get), 0);
      const head = { datastore: "disk", op: "head" };
      assert.equal(await valueOf(registry, "kit_datastore_operations_total", head), 1);
      assert.equal(await valueOf(registry, "kit_datastore_errors_total", head), 0);
      const put = { datastore: "disk", op: "put" };
      assert.equal(await valueOf(registry, "kit_datastore_operations_total", put), 2);
      assert.equal(await valueOf(registry, "kit_datastore_errors_total", put), 1);
    } finally {
      await dir.cleanup();
    }
  });

  it("counts background job runs by outcome", async () => {
    const leader = createLeaderElection({ coordinator: memoryCoordinator() });
    const jobs = createBackgroundJobs({
      leader,
      jobs: [{ name: "sweep", intervalMs: 60_000, run: async () => ({ swept: 1 }) }],
    });
    leader.start();
    try {
      await eventually("a job run", 10_000, async () =>
        (await valueOf(registry, "kit_job_runs_total", { job_name: "sweep", outcome: "ok" })) === 1
          ? true
          : undefined,
      );
      assert.equal(await valueOf(registry, "kit_leader"), 1);
    } finally {
      await leader.stop();
      await jobs.stop();
    }
  });

  it("refuses a bad prefix or maxOrigins with a ConfigError naming the option", async () => {
    await assert.rejects(createMetrics({ prefix: "1bad" }), (e: unknown) => {
      assert.ok(ConfigError.is(e));
      assert.equal(e.option, "prefix");
      return true;
    });
    await assert.rejects(createMetrics({ maxOrigins: -1 }), /maxOrigins/);
  });
});
