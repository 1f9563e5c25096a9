// Per-user upload quotas through the handler: stored bytes, file count, pending uploads and
// upload windows, refused with 403 M_USER_LIMIT_EXCEEDED before the body when Content-Length
// tells and at the first byte over when it does not (nothing of the upload is kept); the
// per-user hook, including garbage from it; MSC4034's /config fields and usage endpoint.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { ConfigError } from "../../src/errors.js";
import {
  createMediaHandler,
  memoryUploadWindows,
  type UploadQuotaOptions,
} from "../../src/http/index.js";
import { chunkedUpload, createFixture, request, TOKENS, upload, type Fixture } from "./fixture.js";

const ALICE = "@alice:test.local";

interface Logged {
  message: string;
  fields: unknown;
}

async function fixtureWith(quotas: UploadQuotaOptions, warnings: Logged[] = []): Promise<Fixture> {
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message: string, fields?: unknown) => void warnings.push({ message, fields }),
    error: () => undefined,
  };
  return createFixture({ handler: { quotas, logger } });
}

function assertUserLimit(res: { status: number; json(): any }): void {
  assert.equal(res.status, 403);
  assert.equal(res.json().errcode, "M_USER_LIMIT_EXCEEDED");
  assert.match(res.json().info_uri, /^https:\/\//, "the spec requires an info_uri");
}

describe("upload quotas", () => {
  const fixtures: Fixture[] = [];
  after(() => Promise.all(fixtures.map((f) => f.close())));
  const make = async (q: UploadQuotaOptions, warnings?: Logged[]) => {
    const f = await fixtureWith(q, warnings);
    fixtures.push(f);
    return f;
  };

  it("refuses over maxBytes from Content-Length before storing anything", async () => {
    const f = await make({ maxBytes: 100, infoUri: "https://hs.example/quota" });
    await upload(f.baseUrl, Buffer.alloc(60, 1), "application/octet-stream");
    const puts = f.datastoreSpy.calls;
    const res = await request(f.baseUrl, "POST", "/_matrix/media/v3/upload", {
      token: TOKENS.alice,
      body: Buffer.alloc(41, 2),
    });
    assertUserLimit(res);
    assert.equal(res.json().info_uri, "https://hs.example/quota");
    assert.equal(f.datastoreSpy.calls, puts, "the datastore was not touched");
    assert.deepEqual(await f.repo.usage(ALICE), { bytes: 60, count: 1 });
    // What still fits is accepted.
    await upload(f.baseUrl, Buffer.alloc(40, 3), "application/octet-stream");
    assert.deepEqual(await f.repo.usage(ALICE), { bytes: 100, count: 2 });
  });

  it("counts a chunked body and discards it at the first byte over (no blob, record or temp file)", async () => {
    const f = await make({ maxBytes: 1000 });
    const before = await f.files();
    const res = await chunkedUpload(f.baseUrl, [Buffer.alloc(600, 1), Buffer.alloc(600, 2)]);
    assertUserLimit(res);
    assert.deepEqual(await f.repo.usage(ALICE), { bytes: 0, count: 0 });
    assert.deepEqual(await f.files(), before, "nothing of the upload is left in the datastore");
    const ok = await chunkedUpload(f.baseUrl, [Buffer.alloc(500, 1), Buffer.alloc(500, 2)]);
    assert.equal(ok.status, 200, "exactly the quota fits");
  });

  it("refuses past maxFiles, and past an upload window shared through the window store", async () => {
    const files = await make({ maxFiles: 1 });
    await upload(files.baseUrl, "one", "text/plain");
    const second = await request(files.baseUrl, "POST", "/_matrix/media/v3/upload", {
      token: TOKENS.alice,
      body: "two",
    });
    assertUserLimit(second);

    let t = 1_000_000;
    const windows = memoryUploadWindows({ now: () => t });
    const w = await make({ uploadWindows: [{ periodMs: 60_000, maxBytes: 10 }], windows });
    await upload(w.baseUrl, "12345678", "text/plain");
    assert.equal(await windows.used(ALICE, 60_000), 8);
    const over = await chunkedUpload(w.baseUrl, [Buffer.from("abc")]);
    assertUserLimit(over);
    assert.match(over.json().error, /per 60 s/);
    t += 60_000; // the window closes
    assert.equal((await chunkedUpload(w.baseUrl, [Buffer.from("abc")])).status, 200);
  });

  it("bounds pending uploads per user with maxPending", async () => {
    const f = await make({ maxPending: 1 });
    const first = await request(f.baseUrl, "POST", "/_matrix/media/v1/create", {
      token: TOKENS.alice,
    });
    assert.equal(first.status, 200);
    const second = await request(f.baseUrl, "POST", "/_matrix/media/v1/create", {
      token: TOKENS.alice,
    });
    assertUserLimit(second);
    const bob = await request(f.baseUrl, "POST", "/_matrix/media/v1/create", { token: TOKENS.bob });
    assert.equal(bob.status, 200, "another user has their own bound");
  });

  it("applies per-user overrides, and falls back to the default (logged) on garbage", async () => {
    const warnings: Logged[] = [];
    const answers: unknown[] = [
      { maxBytes: 1000 }, // valid: alice may store 1000
      "garbage",
      { maxBytes: -5, maxFiles: Number.NaN, uploadWindows: [{ periodMs: 5 }] },
      new Error("thrown"),
      new Promise(() => undefined), // never answers
      { maxBytes: null }, // no limit at all
    ];
    let call = 0;
    const f = await make(
      {
        maxBytes: 10,
        forUserTimeoutMs: 200,
        forUser: () => {
          const a = answers[call++];
          if (a instanceof Error) throw a;
          return a as never;
        },
      },
      warnings,
    );
    const big = Buffer.alloc(500, 1);
    const send = () =>
      request(f.baseUrl, "POST", "/_matrix/media/v3/upload", { token: TOKENS.alice, body: big });
    assert.equal((await send()).status, 200, "the override lifted the limit to 1000");
    for (let i = 0; i < 4; i++) {
      const res = await send();
      assertUserLimit(res);
    }
    assert.equal(warnings.length, 4, "each bad answer is logged");
    assert.ok(warnings.some((w) => /invalid limits/.test(w.message)));
    assert.ok(warnings.some((w) => /failed/.test(JSON.stringify(w))));
    assert.ok(
      warnings.some((w) =>
        /within 200 ms/.test(String((w.fields as { error?: Error }).error?.message)),
      ),
    );
    assert.equal((await send()).status, 200, "null lifts the limit");
  });

  it("reports the user's limits in /config and their usage at the MSC4034 endpoint", async () => {
    const f = await make({ maxBytes: 5000, maxFiles: 7 });
    await upload(f.baseUrl, "hello", "text/plain");
    for (const path of ["/_matrix/client/v1/media/config", "/_matrix/media/v3/config"]) {
      const config = await request(f.baseUrl, "GET", path, { token: TOKENS.alice });
      assert.equal(config.status, 200);
      assert.equal(typeof config.json()["m.upload.size"], "number");
      assert.equal(config.json()["org.matrix.msc4034.storage.size"], 5000);
      assert.equal(config.json()["org.matrix.msc4034.storage.max_files"], 7);
    }
    const usage = await request(
      f.baseUrl,
      "GET",
      "/_matrix/media/unstable/org.matrix.msc4034/usage",
      {
        token: TOKENS.alice,
      },
    );
    assert.equal(usage.status, 200);
    assert.deepEqual(usage.json(), {
      "org.matrix.msc4034.storage.used": 5,
      "org.matrix.msc4034.storage.files": 1,
    });
    const anonymous = await request(
      f.baseUrl,
      "GET",
      "/_matrix/media/unstable/org.matrix.msc4034/usage",
    );
    assert.equal(anonymous.status, 401);
    const unknown = await request(
      f.baseUrl,
      "GET",
      "/_matrix/media/unstable/org.matrix.msc4034/nope",
      {
        token: TOKENS.alice,
      },
    );
    assert.equal(unknown.status, 404);
  });

  it("refuses bad quota options with a ConfigError naming the option", async () => {
    const f = await make({});
    const authenticate = async () => undefined;
    for (const [quotas, option] of [
      [{ maxBytes: -1 }, "quotas.maxBytes"],
      [{ maxFiles: 1.5 }, "quotas.maxFiles"],
      [{ uploadWindows: [{ periodMs: 1500, maxBytes: 1 }] }, "quotas.uploadWindows"],
      [{ uploadWindows: "1h" }, "quotas.uploadWindows"],
      [{ forUser: 3 }, "quotas.forUser"],
      [{ forUserTimeoutMs: 0 }, "quotas.forUserTimeoutMs"],
      [{ infoUri: "ftp://x" }, "quotas.infoUri"],
    ] as const) {
      assert.throws(
        () => createMediaHandler(f.repo, { authenticate, quotas: quotas as never }),
        (err: unknown) => err instanceof ConfigError && err.option === option,
      );
    }
  });
});
