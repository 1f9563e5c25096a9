// `updateLimits` of the handler and of the repository (what a config reload calls): checked
// like the options at construction, a refused patch changes nothing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../../src/errors.js";
import { createMediaHandler } from "../../../src/http/index.js";
import { createMediaIdGenerator } from "../../../src/ids/index.js";
import { memoryMetadataStore } from "../../../src/metadata/index.js";
import { createMediaRepository } from "../../../src/repository/index.js";

const named = (option: string) => (err: unknown) => ConfigError.is(err) && err.option === option;

describe("updateLimits", () => {
  const repo = createMediaRepository({
    serverName: "example.org",
    ids: createMediaIdGenerator({ machineId: 1 }),
    datastore: { id: "none" } as never,
    metadata: memoryMetadataStore(),
    limits: { sweepIntervalMs: 0, touchIntervalMs: 0, maxUploadBytes: 5000 },
  });

  it("changes the repository's upload limits, refusing bad or fixed ones", async () => {
    repo.updateLimits({ maxUploadBytes: 1000, maxPendingPerUser: 3 });
    assert.equal(repo.limits.maxUploadBytes, 1000);
    assert.equal(repo.limits.maxPendingPerUser, 3);
    assert.deepEqual(repo.config(), { "m.upload.size": 1000 });
    assert.throws(() => repo.updateLimits({ maxUploadBytes: 0 }), named("limits.maxUploadBytes"));
    assert.throws(
      () => repo.updateLimits({ maxUploadBytes: 10, maxPendingPerUser: -1 }),
      named("limits.maxPendingPerUser"),
    );
    assert.throws(
      () => repo.updateLimits({ sweepIntervalMs: 5 } as never),
      named("limits.sweepIntervalMs"),
    );
    assert.equal(repo.limits.maxUploadBytes, 1000, "a refused patch changes nothing");
    await repo.close();
  });

  it("changes the handler's bounds, refusing bad ones", () => {
    const handler = createMediaHandler(repo, { authenticate: async () => undefined });
    handler.updateLimits({ maxConcurrentUploadsPerUser: 2, uploadIdleTimeoutMs: 500 });
    assert.throws(
      () => handler.updateLimits({ maxConcurrentUploadsPerUser: 0 }),
      named("maxConcurrentUploadsPerUser"),
    );
    assert.throws(
      () => handler.updateLimits({ writeStallTimeoutMs: 1.5 }),
      named("writeStallTimeoutMs"),
    );
  });
});
