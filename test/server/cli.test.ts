// `matrix-media-kit serve` in-process: the usage texts, a bad option anywhere ending as one
// `invalid configuration: …` line with exit code 2, and a server that stops on its signal.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { main } from "../../src/cli/index.js";
import { tempDir } from "../harness/tmp.js";

function captureIo(env: Record<string, string | undefined> = {}) {
  let out = "";
  let err = "";
  return {
    io: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env,
    },
    out: () => out,
    err: () => err,
  };
}

describe("matrix-media-kit serve", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir?.cleanup();
  });

  const configFile = async (name: string, yaml: string) => {
    const file = path.join(dir.path, name);
    await writeFile(file, yaml);
    return file;
  };

  it("lists its commands and options", async () => {
    const top = captureIo();
    assert.equal(await main(["--help"], top.io), 0);
    assert.match(top.out(), /^\s+serve\s/m);
    assert.match(top.out(), /^\s+migrate\s/m);
    const serve = captureIo();
    assert.equal(await main(["serve", "--help"], serve.io), 0);
    for (const word of ["--config", "MEDIA_CONFIG", "MACHINE_ID", "PORT"])
      assert.ok(serve.out().includes(word), word);
    const unknown = captureIo();
    assert.equal(await main(["serve", "--colour"], unknown.io), 2);
    assert.match(unknown.err(), /Usage: matrix-media-kit serve/);
  });

  it("exits 2 with one line naming the option, never a stack trace", async () => {
    const cases: Array<[string, string, Record<string, string>, RegExp]> = [
      ["port.yaml", "listen: { port: 70000 }\n", {}, /listen\.port/],
      ["key.yaml", "colour: blue\n", {}, /Unknown config key colour/],
      ["syntax.yaml", "listen: { port: 1\nauth: [\n", {}, /Cannot read config .*syntax\.yaml/],
      ["machine.yaml", "serverName: media.test\n", { MACHINE_ID: "1024" }, /MACHINE_ID/],
      // Refused by the factories, not the loader: a ring shard and an S3 bucket name.
      [
        "shard.yaml",
        "cache: { redis: { shards: [not-a-url] } }\n",
        {},
        /cache\.redis: .*not-a-url/,
      ],
      [
        "bucket.yaml",
        "datastores: [{ id: s3, type: s3, kinds: [local], bucket: b }]\n",
        {},
        /datastores\[0\]: .*bucket/,
      ],
    ];
    for (const [name, yaml, env, message] of cases) {
      const cap = captureIo(env);
      const file = await configFile(name, yaml);
      assert.equal(await main(["serve", "--config", file], cap.io), 2, `${name}: ${cap.err()}`);
      const lines = cap.err().split("\n").filter(Boolean);
      assert.equal(lines.length, 1, `${name}: ${cap.err()}`);
      assert.match(lines[0]!, /^invalid configuration: /, name);
      assert.match(lines[0]!, message, name);
    }
  });

  it("serves until its signal aborts, then closes and exits 0", async () => {
    const file = await configFile(
      "ok.yaml",
      "serverName: media.test\nauth: { tokens: { t0ken: '@alice:media.test' } }\n",
    );
    const cap = captureIo({ PORT: "0", MACHINE_ID: "3" });
    const controller = new AbortController();
    const running = main(["serve", "--config", file], cap.io, controller.signal);
    const deadline = Date.now() + 120_000;
    while (!cap.out().includes("media server listening") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const listening = cap
      .out()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; url?: string; machineId?: number })
      .find((l) => l.msg === "media server listening");
    assert.ok(listening?.url, cap.out() + cap.err());
    assert.equal(listening.machineId, 3);
    assert.equal(await (await fetch(`${listening.url}/healthz`)).text(), "ok");
    const config = await fetch(`${listening.url}/_matrix/client/v1/media/config`, {
      headers: { authorization: "Bearer t0ken" },
    });
    assert.equal(config.status, 200);
    controller.abort("SIGTERM");
    assert.equal(await running, 0);
    assert.match(cap.out(), /"msg":"shutting down","signal":"SIGTERM"/);
    await assert.rejects(fetch(`${listening.url}/healthz`));
  });
});

describe("matrix-media-kit generate-key", () => {
  it("prints a key in Synapse's format that parses back, and its public half", async () => {
    const { parseSigningKey } = await import("../../src/federation/index.js");
    const cap = captureIo();
    assert.equal(await main(["generate-key", "--version", "a_media"], cap.io), 0);
    const key = parseSigningKey(cap.out());
    assert.equal(key.keyId, "ed25519:a_media");
    assert.match(cap.out(), /^ed25519 a_media [A-Za-z0-9+/]{43}\n$/);
    assert.ok(cap.err().includes(key.publicKeyBase64), cap.err());
  });

  it("refuses a bad version with the usage and exit code 2", async () => {
    const cap = captureIo();
    assert.equal(await main(["generate-key", "--version", "has space"], cap.io), 2);
    assert.match(cap.err(), /--version must be/);
    assert.match(cap.err(), /Usage: matrix-media-kit generate-key/);
  });
});
