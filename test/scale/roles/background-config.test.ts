// `background.jobs.localRetention` of the standalone config: off by default, each bound
// checked and named.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../../src/errors.js";
import { resolveConfig } from "../../../src/server/index.js";

const localRetention = (value: unknown) =>
  resolveConfig({ background: { jobs: { localRetention: value } } }).background.jobs.localRetention;

describe("background.jobs.localRetention", () => {
  it("is off by default, with its interval, age and batch size", () => {
    assert.deepEqual(resolveConfig({}).background.jobs.localRetention, {
      enabled: false,
      maxAgeMs: 365 * 24 * 60 * 60 * 1000,
      intervalMs: 3_600_000,
      batchSize: 100,
    });
    assert.deepEqual(localRetention({ enabled: true, maxAgeMs: 86_400_000, batchSize: 500 }), {
      enabled: true,
      maxAgeMs: 86_400_000,
      intervalMs: 3_600_000,
      batchSize: 500,
    });
  });

  it("refuses an out-of-range or unknown key, naming it", () => {
    for (const [value, option] of [
      [{ batchSize: 0 }, "background.jobs.localRetention.batchSize"],
      [{ batchSize: 1001 }, "background.jobs.localRetention.batchSize"],
      [{ maxAgeMs: 10 }, "background.jobs.localRetention.maxAgeMs"],
      [{ enabled: "yes" }, "background.jobs.localRetention.enabled"],
    ] as const) {
      assert.throws(
        () => localRetention(value),
        (err: unknown) => ConfigError.is(err) && err.message.includes(option),
        option,
      );
    }
    assert.throws(() => localRetention({ maxAge: 1 }), /maxAge/);
  });
});
