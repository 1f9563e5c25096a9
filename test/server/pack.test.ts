// The package as a user gets it: `npm pack`, install the tarball into an empty project, then
// `npx matrix-media-kit serve` with no config answers an upload and a download, and
// `npx matrix-media-kit --help` lists the commands. Needs `npm run build` first (npm test does).
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../harness/tmp.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const npx = process.platform === "win32" ? "npx.cmd" : "npx";

// npm exports its configuration to scripts as npm_* variables (the project's prefix among
// them): a nested npm must not inherit them, or it would act on this project, not the temp one.
const KEEP = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig"]);
const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.toLowerCase().startsWith("npm_") || KEEP.has(k.toLowerCase())) env[k] = v;
  delete env.MEDIA_CONFIG;
  delete env.MACHINE_ID;
  delete env.PORT;
  return { ...env, ...extra };
};

async function version(dir: string, name: string): Promise<string> {
  const pkg = JSON.parse(
    await readFile(path.join(dir, "node_modules", name, "package.json"), "utf8"),
  );
  return (pkg as { version: string }).version;
}

/** Resolves with the first line of `child`'s stdout matching `pattern`, or rejects at `ms`. */
function waitForLine(
  child: ChildProcess,
  output: { out: string; err: string },
  pattern: RegExp,
  ms: number,
) {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${ms} ms:\n${output.out}\n${output.err}`)),
      ms,
    );
    const check = () => {
      const line = output.out.split("\n").find((l) => pattern.test(l));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout!.off("data", check);
      resolve(line);
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${output.out}\n${output.err}`));
    });
    check();
  });
}

describe("the packed package", { concurrency: false }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let app: string;
  let server: ChildProcess | undefined;
  const output = { out: "", err: "" };

  before(
    async () => {
      assert.ok(
        existsSync(path.join(root, "dist/cli/index.js")),
        "dist/ is missing: run `npm run build` first",
      );
      dir = await tempDir("mmk-pack-");
      const packed = await run(
        npm,
        ["pack", "--pack-destination", dir.path, "--ignore-scripts", "--silent"],
        { cwd: root, env: cleanEnv(), maxBuffer: 16 << 20 },
      );
      const tarball = path.join(dir.path, packed.stdout.trim().split("\n").pop()!);
      app = path.join(dir.path, "app");
      await mkdir(app);
      await writeFile(path.join(app, "package.json"), '{ "name": "app", "private": true }\n');
      // The npm cache is warm after `npm ci`, so this needs the registry for little or nothing.
      // Install scripts are skipped: better-sqlite3's would compile its addon from source
      // (minutes) when no prebuilt binary can be downloaded, so the addon this project built
      // is copied in instead (same pinned version). sharp needs no script: its binary ships
      // in the @img/* packages.
      await run(
        npm,
        ["install", tarball, "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"],
        { cwd: app, env: cleanEnv(), maxBuffer: 16 << 20, timeout: 480_000 },
      );
      assert.equal(
        await version(app, "better-sqlite3"),
        await version(root, "better-sqlite3"),
        "the copied addon must match the installed better-sqlite3",
      );
      const addon = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
      await mkdir(path.dirname(path.join(app, addon)), { recursive: true });
      await copyFile(path.join(root, addon), path.join(app, addon));

      // Its own process group, so `after` can stop npx and the server it started together.
      server = spawn(npx, ["matrix-media-kit", "serve"], {
        cwd: app,
        env: cleanEnv({ PORT: "0" }),
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      server.stdout!.setEncoding("utf8").on("data", (s: string) => (output.out += s));
      server.stderr!.setEncoding("utf8").on("data", (s: string) => (output.err += s));
    },
    { timeout: 540_000 },
  );

  after(
    async () => {
      if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((r) => server!.once("exit", r));
        process.kill(-server.pid, "SIGTERM");
        const timer = setTimeout(() => {
          try {
            process.kill(-server!.pid!, "SIGKILL");
          } catch {
            // already gone
          }
        }, 20_000);
        await exited;
        clearTimeout(timer);
      }
      await dir?.cleanup();
    },
    { timeout: 60_000 },
  );

  it(
    "serves an upload and a download on embedded defaults, with no config",
    { timeout: 300_000 },
    async () => {
      const listening = JSON.parse(
        await waitForLine(server!, output, /"msg":"media server listening"/, 240_000),
      ) as { url: string };
      const tokenLine = await waitForLine(server!, output, /no auth configured/, 10_000);
      const token = /Bearer ([A-Za-z0-9_-]+)/.exec(tokenLine)![1]!;
      assert.match(listening.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const auth = { authorization: `Bearer ${token}` };
      const up = await fetch(`${listening.url}/_matrix/media/v3/upload?filename=hello.txt`, {
        method: "POST",
        headers: { ...auth, "content-type": "text/plain" },
        body: "hello from the tarball",
      });
      assert.equal(up.status, 200, await up.clone().text());
      const { content_uri } = (await up.json()) as { content_uri: string };
      const down = await fetch(
        `${listening.url}/_matrix/client/v1/media/download/${content_uri.slice("mxc://".length)}`,
        { headers: auth },
      );
      assert.equal(down.status, 200);
      assert.equal(await down.text(), "hello from the tarball");
      assert.ok(existsSync(path.join(app, "data/metadata")), "embedded metadata under ./data");
    },
  );

  it("lists its commands, and refuses a bad config in one line", { timeout: 120_000 }, async () => {
    const help = await run(npx, ["matrix-media-kit", "--help"], { cwd: app, env: cleanEnv() });
    assert.match(help.stdout, /^\s+serve\s/m);
    assert.match(help.stdout, /^\s+migrate\s/m);
    await writeFile(path.join(app, "bad.yaml"), "listen: { port: 70000 }\n");
    const bad = await run(npx, ["matrix-media-kit", "serve", "--config", "bad.yaml"], {
      cwd: app,
      env: cleanEnv(),
    }).then(
      () => assert.fail("serve accepted port 70000"),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr.trim(), /^invalid configuration: [^\n]*listen\.port[^\n]*$/);
  });
});
