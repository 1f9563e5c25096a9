// The standalone's pino logger: JSON lines split by level, secrets never written.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jsonLineLogger } from "../../src/server/index.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const logger = jsonLineLogger({
    stdout: { write: (line: string) => out.push(line) },
    stderr: { write: (line: string) => err.push(line) },
  });
  const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    logger,
    out: () => parse(out),
    err: () => parse(err),
    raw: () => [...out, ...err].join(""),
  };
}

describe("jsonLineLogger (pino)", () => {
  it("writes info to stdout and warnings and errors to stderr, keeping level and msg", () => {
    const c = capture();
    c.logger.info("media server listening", { url: "http://127.0.0.1:8008" });
    c.logger.warn("careful");
    c.logger.error("broken", { err: new Error("boom") });
    c.logger.debug?.("not written at the default level");
    assert.deepEqual(
      c.out().map((l) => [l.level, l.msg, l.url]),
      [["info", "media server listening", "http://127.0.0.1:8008"]],
    );
    assert.deepEqual(
      c.err().map((l) => [l.level, l.msg]),
      [
        ["warn", "careful"],
        ["error", "broken"],
      ],
    );
    const { err } = c.err()[1]! as { err: { type: string; message: string } };
    assert.deepEqual([err.type, err.message], ["Error", "boom"]);
    assert.equal(typeof c.out()[0]!.time, "string");
  });

  it("redacts Authorization values, access_token query values and URL userinfo everywhere", () => {
    const c = capture();
    c.logger.warn("preview of https://bob:hunter2@example.org/page?access_token=s3cret1&x=1", {
      url: "https://bob:hunter2@example.org/page?a=1&access_token=s3cret2",
      headers: { Authorization: "Bearer s3cret3", "x-other": "kept" },
      accessToken: "s3cret4",
      nested: [{ note: "sent Bearer s3cret5 upstream", link: new URL("http://u:s3cret6@h/") }],
      error: new Error("GET /download?access_token=s3cret7 failed"),
    });
    const raw = c.raw();
    for (const secret of [
      "hunter2",
      "s3cret1",
      "s3cret2",
      "s3cret3",
      "s3cret4",
      "s3cret5",
      "s3cret6",
      "s3cret7",
      "bob:",
    ]) {
      assert.ok(!raw.includes(secret), `${secret} in ${raw}`);
    }
    const line = c.err()[0]! as Record<string, any>;
    assert.equal(line.msg, "preview of https://example.org/page?access_token=[redacted]&x=1");
    assert.equal(line.url, "https://example.org/page?a=1&access_token=[redacted]");
    assert.equal(line.headers["x-other"], "kept");
    assert.equal(line.headers.Authorization, "[redacted]");
  });
});
