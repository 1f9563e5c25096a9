// The media server's configuration: every bad value is refused with its key, defaults are
// filled in, and the example configs shipped in the repository stay valid.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../../src/index.js";
import { loadConfig } from "../../src/server/index.js";
import { tempDir } from "../harness/tmp.js";
import { resolveConfig } from "./helpers.js";

const root = path.resolve(import.meta.dirname, "../..");

describe("media server config validation", () => {
  it("names the key of every bad value", () => {
    const cases: Array<[unknown, Record<string, string>, RegExp]> = [
      [{ listen: { port: 70000 } }, {}, /listen\.port/],
      [{}, { MACHINE_ID: "abc" }, /MACHINE_ID/],
      [{}, { MACHINE_ID: "1024" }, /MACHINE_ID/],
      [{ datastores: [{ id: "a", type: "ftp", kinds: ["local"] }] }, {}, /datastores\[0\]\.type/],
      [
        { datastores: [{ id: "a", type: "fs", kinds: ["thumbnail"], root: "x" }] },
        {},
        /kind "local"/,
      ],
      [{ limits: { maxUploadBytes: "lots" } }, {}, /limits\.maxUploadBytes/],
      [
        { metadata: { postgres: "postgres://x", embedded: "./y" } },
        {},
        /either metadata\.postgres or metadata\.embedded/,
      ],
      [{ colour: "blue" }, {}, /Unknown config key colour/],
      [{ auth: { tokens: { abcd: "alice" } } }, {}, /auth\.tokens/],
      [{ federation: { enabled: true } }, {}, /federation\.signingKeyPath/],
      [{ federation: { enabld: true } }, {}, /Unknown config key federation\.enabld/],
      [{ federation: { timeoutMs: 60_001 } }, {}, /federation\.timeoutMs/],
      [{ federation: { maxRemoteBytes: "huge" } }, {}, /federation\.maxRemoteBytes/],
      [{ federation: { allowRanges: "10.0.0.0/8" } }, {}, /federation\.allowRanges/],
      [
        { federation: { trustedKeyServers: [{ serverName: "matrix.org", verifyKeys: {} }] } },
        {},
        /federation\.trustedKeyServers\[0\]\.verifyKeys/,
      ],
      [{ listen: { tls: { certFile: "a.crt" } } }, {}, /listen\.tls\.keyFile/],
      [{ thumbnails: { video: { timeoutMs: -5 } } }, {}, /thumbnails\.video\.timeoutMs/],
      [{ thumbnails: { video: { ffmpeg: "/x" } } }, {}, /thumbnails\.video\.ffmpeg/],
      [{ thumbnails: { video: { memoryBytes: "lots" } } }, {}, /thumbnails\.video\.memoryBytes/],
    ];
    for (const [raw, env, message] of cases) {
      assert.throws(
        () => resolveConfig(raw, env, "/tmp"),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, message);
          return true;
        },
      );
    }
    const ok = resolveConfig({ limits: { maxUploadBytes: "50MiB" } }, { MACHINE_ID: "7" }, "/srv");
    assert.equal(ok.limits.maxUploadBytes, 50 * 1024 * 1024);
    const video = resolveConfig(
      {
        thumbnails: {
          video: { ffmpegPath: "/opt/ffmpeg", memoryBytes: "768MiB", timeoutMs: 8000 },
        },
      },
      { MACHINE_ID: "7" },
      "/srv",
    ).thumbnails.video;
    assert.deepEqual(video, {
      ffmpegPath: "/opt/ffmpeg",
      memoryBytes: 768 * 1024 * 1024,
      timeoutMs: 8000,
    });
    assert.equal(ok.machineId, 7);
    assert.equal(ok.listen.port, 8008);
    assert.equal(ok.metadata.embedded, "/srv/data/metadata");
    assert.equal(ok.federation.enabled, false, "federation is opt-in");
    const fed = resolveConfig(
      { federation: { enabled: true, signingKeyPath: "keys/media.key", maxRemoteBytes: "20MiB" } },
      {},
      "/srv",
    ).federation;
    assert.equal(fed.signingKeyPath, "/srv/keys/media.key");
    assert.equal(fed.maxRemoteBytes, 20 * 1024 * 1024);
    assert.equal(fed.legacyFallback, false);
    assert.equal(fed.serveKeys, true);
  });
});

describe("media server config sources", () => {
  it("PORT overrides listen.port and is validated like it", () => {
    assert.equal(resolveConfig({ listen: { port: 9000 } }, { PORT: "0" }, "/srv").listen.port, 0);
    assert.throws(
      () => resolveConfig({}, { PORT: "http" }, "/srv"),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.option, "PORT");
        return true;
      },
    );
  });

  it("refuses a list that is not one, and names the file it cannot read", async () => {
    assert.throws(
      () => resolveConfig({ thumbnails: { sizes: "big" } }, {}, "/srv"),
      /thumbnails\.sizes/,
    );
    assert.throws(
      () => loadConfig({ file: "/nonexistent/media.yaml", env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /Cannot read config \/nonexistent\/media\.yaml/);
        return true;
      },
    );
  });

  it("reads MEDIA_CONFIG and resolves paths against the file's directory", async () => {
    const dir = await tempDir();
    try {
      const file = path.join(dir.path, "media.yaml");
      await writeFile(file, "serverName: media.test\nmetadata: { embedded: ./meta }\n");
      const config = loadConfig({ env: { MEDIA_CONFIG: file, MACHINE_ID: "9" } });
      assert.equal(config.serverName, "media.test");
      assert.equal(config.machineId, 9);
      assert.equal(config.metadata.embedded, path.join(dir.path, "meta"));
      assert.equal(config.datastores[0]!.root, path.join(dir.path, "data/media"));
    } finally {
      await dir.cleanup();
    }
  });

  it("accepts the example configs of the repository", () => {
    for (const file of ["examples/media.example.yaml", "examples/compose.media.yaml"]) {
      const config = loadConfig({ file: path.join(root, file), env: {} });
      assert.equal(config.serverName, "example.org", file);
      assert.ok(config.cache.redis && config.cache.redis.shards.length === 2, file);
    }
    // The image's default config is written inline in the Dockerfile.
    const dockerfile = readFileSync(path.join(root, "Dockerfile"), "utf8");
    const inline = /COPY <<EOF \/etc\/matrix-media-kit\/media\.yaml\n([\s\S]*?)\nEOF\n/.exec(
      dockerfile,
    );
    assert.ok(inline, "the Dockerfile writes /etc/matrix-media-kit/media.yaml");
    const image = resolveConfig(parseYaml(inline[1]!), {}, "/etc/matrix-media-kit");
    assert.equal(image.listen.host, "0.0.0.0");
    assert.equal(image.metadata.embedded, "/data/metadata");
    assert.match(dockerfile, /ENV MEDIA_CONFIG=\/etc\/matrix-media-kit\/media\.yaml/);
  });

  it("the compose example's config names its services", () => {
    const compose = parseYaml(readFileSync(path.join(root, "examples/compose.yaml"), "utf8")) as {
      services: Record<string, { volumes?: string[] }>;
    };
    const config = loadConfig({ file: path.join(root, "examples/compose.media.yaml"), env: {} });
    const hosts = [
      ...config.cache.redis!.shards,
      config.metadata.postgres!,
      config.datastores[0]!.endpoint as string,
    ].map((url) => new URL(url).hostname);
    for (const host of hosts) assert.ok(host in compose.services, `service ${host}`);
    assert.ok(
      compose.services.media!.volumes!.some((v) => v.startsWith("./compose.media.yaml:")),
      "the server mounts its config",
    );
  });
});
