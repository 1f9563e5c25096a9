// prom-client is an optional peer: without it every entry but the metrics one still loads,
// and createMetrics says what to install. Simulated in a child process whose module
// resolution refuses `prom-client` (a resolve hook preloaded with --import), against the
// built package through its exports map.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { projectRoot } from "../harness/built.js";

const HOOK = path.join(import.meta.dirname, "fixtures", "no-prom-client.mjs");

function run(script: string): { status: number | null; stdout: string; stderr: string } {
  assert.ok(
    existsSync(path.join(projectRoot, "dist/metrics/index.js")),
    "run `npm run build` first",
  );
  return spawnSync(process.execPath, ["--import", HOOK, "--input-type=module", "-e", script], {
    cwd: projectRoot,
    encoding: "utf8",
  });
}

describe("without prom-client installed", () => {
  it("the hook really hides prom-client", () => {
    const result = run(`await import("prom-client");`);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /ERR_MODULE_NOT_FOUND/);
  });

  it("the root, http and server entries load, and createMetrics names the package to install", () => {
    const result = run(`
      await import("matrix-media-kit");
      await import("matrix-media-kit/http");
      await import("matrix-media-kit/server");
      const { createMetrics } = await import("matrix-media-kit/metrics");
      try {
        await createMetrics();
        console.log(JSON.stringify({ created: true }));
      } catch (error) {
        console.log(JSON.stringify({ name: error.name, message: error.message, option: error.option }));
      }
    `);
    assert.equal(result.status, 0, result.stderr);
    const answer = JSON.parse(result.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    assert.equal(answer.name, "ConfigError");
    assert.match(String(answer.message), /install prom-client to use matrix-media-kit\/metrics/);
  });
});
