// The `roles` key of the standalone config, and the handler's `routes` option it becomes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../../src/errors.js";
import { createMediaHandler } from "../../../src/http/index.js";
import { createMediaIdGenerator } from "../../../src/ids/index.js";
import { memoryMetadataStore } from "../../../src/metadata/index.js";
import { createMediaRepository } from "../../../src/repository/index.js";
import { resolveConfig } from "../../../src/server/index.js";

function refusal(raw: unknown): ConfigError {
  try {
    resolveConfig(raw);
  } catch (err) {
    assert.ok(ConfigError.is(err), String(err));
    return err;
  }
  assert.fail("expected a ConfigError");
}

describe("roles in the config", () => {
  it("defaults to every role, in a fixed order", () => {
    assert.deepEqual(resolveConfig({}).roles, [
      "upload",
      "download",
      "thumbnail",
      "preview",
      "federation",
      "admin",
      "background",
    ]);
    assert.deepEqual(resolveConfig({ roles: ["admin", "upload"] }).roles, ["upload", "admin"]);
  });

  it("names the entry of an unknown role", () => {
    const err = refusal({ roles: ["upload", "uploads"] });
    assert.equal(err.option, "roles[1]");
    assert.match(err.message, /roles\[1\].*"uploads"/);
  });

  it("refuses an empty list, a non-list and a role listed twice", () => {
    assert.equal(refusal({ roles: [] }).option, "roles");
    assert.equal(refusal({ roles: "upload" }).option, "roles");
    assert.equal(refusal({ roles: ["download", "download"] }).option, "roles[1]");
    assert.equal(refusal({ roles: [7] }).option, "roles[0]");
  });
});

describe("the handler's routes option", () => {
  const repo = createMediaRepository({
    serverName: "example.org",
    ids: createMediaIdGenerator({ machineId: 1 }),
    datastore: { id: "none" } as never,
    metadata: memoryMetadataStore(),
    limits: { sweepIntervalMs: 0, touchIntervalMs: 0 },
  });
  const authenticate = async () => undefined;

  it("must be a function", async () => {
    assert.throws(
      () => createMediaHandler(repo, { authenticate, routes: ["upload"] as never }),
      (err: unknown) => ConfigError.is(err) && err.option === "routes",
    );
    assert.equal(typeof createMediaHandler(repo, { authenticate, routes: () => true }), "function");
    await repo.close();
  });
});
