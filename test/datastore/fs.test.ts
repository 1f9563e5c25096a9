import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { mkdir, readdir, symlink, utimes, writeFile, readFile, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fsDatastore } from "../../src/datastore/index.js";
import { parseTemporaryName } from "../../src/datastore/fs-state.js";
import { ConfigError, MediaError } from "../../src/errors.js";
import { tempDir } from "../harness/tmp.js";

/** A ConfigError naming `option`. */
function configError(option: string) {
  return (err: unknown): boolean => {
    assert.ok(ConfigError.is(err), `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.option, option);
    return true;
  };
}

const fixture = path.join(import.meta.dirname, "fixtures", "fs-writer.ts");

async function walkFiles(dir: string, skip: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (p === skip) continue;
    if (e.isDirectory()) out.push(...(await walkFiles(p, skip)));
    else out.push(p);
  }
  return out;
}

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const isCode = (errcode: string) => (err: unknown) => MediaError.is(err) && err.errcode === errcode;

describe("fs datastore temp file names", () => {
  it("parse unambiguously when the process token is all digits", () => {
    // A token of 8 decimal digits once read as the pid, with the pid folded into the host: the
    // sweep then took a live writer's file for another host's and a dead one's for a live one.
    assert.deepEqual(parseTemporaryName("vm.7727.87910638.caf3a48cd78c4f3b.tmp"), {
      host: "vm",
      pid: 7727,
      token: "87910638",
    });
    assert.deepEqual(parseTemporaryName("media-1.dc2.example.12.0a1b2c3d.0123456789abcdef.tmp"), {
      host: "media-1.dc2.example",
      pid: 12,
      token: "0a1b2c3d",
    });
    // Files of versions without a token.
    assert.deepEqual(parseTemporaryName("vm.12.1234.tmp"), {
      host: "vm",
      pid: 12,
      token: undefined,
    });
    assert.deepEqual(parseTemporaryName("vm.12.bb.tmp"), { host: "vm", pid: 12, token: undefined });
    assert.equal(parseTemporaryName("notes.txt"), undefined);
  });
});

describe("fsDatastore", () => {
  const dirs: Array<{ cleanup(): Promise<void> }> = [];
  after(async () => {
    for (const d of dirs) await d.cleanup();
  });
  const newDir = async (): Promise<string> => {
    const d = await tempDir("mmk-fs-");
    dirs.push(d);
    return d.path;
  };

  it("kill -9 mid-write leaves no visible blob, and the start-up sweep removes the temp file", async () => {
    const root = await newDir();
    const child = spawn(process.execPath, ["--import", "tsx", fixture, root], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once("exit", (_c, sig) => resolve(sig)),
    );
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const counts = [...out.matchAll(/written (\d+)/g)].map((m) => Number(m[1]));
        if (counts.some((n) => n >= 8 * 1024 * 1024)) resolve();
      });
      child.once("exit", () => reject(new Error(`writer exited early: ${out}`)));
    });
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");

    const tmp = path.join(root, ".tmp");
    const temps = await readdir(tmp);
    assert.equal(temps.length, 1, "the killed writer left its temp file");
    assert.ok(
      (await stat(path.join(tmp, temps[0]!))).size >= 4 * 1024 * 1024,
      "the temp file holds the partial write",
    );
    assert.deepEqual(await walkFiles(root, tmp), [], "no partial blob is visible under a key");

    const store = fsDatastore({ root });
    const listed = [];
    for await (const e of store.list()) listed.push(e);
    assert.deepEqual(listed, []);
    assert.deepEqual(
      await readdir(tmp),
      [],
      "the start-up sweep removed the dead writer's temp file",
    );
    assert.equal(await store.sweep(), 0);
  });

  it("removes its temp file when the source fails or maxBytes is exceeded", async () => {
    const root = await newDir();
    const store = fsDatastore({ root });
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(2 * 1024 * 1024, 1);
      throw new Error("client went away");
    }
    await assert.rejects(store.put(failing()), /client went away/);
    assert.deepEqual(await readdir(path.join(root, ".tmp")), []);
    await assert.rejects(store.put(Buffer.alloc(100), { maxBytes: 10 }), isCode("M_TOO_LARGE"));
    assert.deepEqual(await readdir(path.join(root, ".tmp")), []);
    assert.deepEqual(await walkFiles(root, path.join(root, ".tmp")), []);
  });

  it("refuses symlinks that lead out of the root", async () => {
    const root = await newDir();
    const outside = await newDir();
    const secret = Buffer.from("top secret");
    const key = sha(secret);
    await writeFile(path.join(outside, "secret"), secret);
    // A symlinked blob file.
    await mkdir(path.join(root, key.slice(0, 2), key.slice(2, 4)), { recursive: true });
    await symlink(
      path.join(outside, "secret"),
      path.join(root, key.slice(0, 2), key.slice(2, 4), key),
    );
    const store = fsDatastore({ root });
    await assert.rejects(store.get(key), isCode("M_NOT_FOUND"));
    assert.equal(await store.head(key), undefined);

    // A symlinked shard directory.
    const secret2 = Buffer.from("another secret");
    const key2 = sha(secret2);
    await mkdir(path.join(outside, "x", key2.slice(2, 4)), { recursive: true });
    await writeFile(path.join(outside, "x", key2.slice(2, 4), key2), secret2);
    await symlink(path.join(outside, "x"), path.join(root, key2.slice(0, 2)));
    await assert.rejects(store.get(key2), isCode("M_NOT_FOUND"));
    await assert.rejects(store.delete(key2), isCode("M_NOT_FOUND"));
    assert.deepEqual(await readFile(path.join(outside, "x", key2.slice(2, 4), key2)), secret2);
    const listed = [];
    for await (const e of store.list()) listed.push(e.key);
    assert.deepEqual(listed, [], "symlinks are never listed");
  });

  it("a read-only store serves existing blobs and refuses writes", async () => {
    const root = await newDir();
    const { key } = await fsDatastore({ root }).put(Buffer.from("kept"));
    const ro = fsDatastore({ root, readOnly: true, id: "old" });
    assert.equal(ro.capabilities.readOnly, true);
    assert.deepEqual(await ro.head(key), { size: 4 });
    await assert.rejects(ro.put(Buffer.from("x")), isCode("M_FORBIDDEN"));
    await assert.rejects(ro.delete(key), isCode("M_FORBIDDEN"));
    assert.deepEqual(await ro.head(key), { size: 4 });
  });

  it("sweeps stale temp files of other hosts but not live or fresh ones", async () => {
    const root = await newDir();
    const tmp = path.join(root, ".tmp");
    await mkdir(tmp, { recursive: true });
    const t0 = Date.now();
    const mine = `${"x"}.${process.pid}.ab.tmp`;
    await writeFile(path.join(tmp, "otherhost.1.aa.tmp"), "old");
    await writeFile(path.join(tmp, "otherhost.2.bb.tmp"), "fresh");
    await writeFile(path.join(tmp, mine), "live");
    const old = new Date(t0 - 2 * 3600_000);
    await utimes(path.join(tmp, "otherhost.1.aa.tmp"), old, old);
    const store = fsDatastore({ root, staleTempMs: 3600_000, now: () => t0 });
    assert.equal(await store.sweep(), 1);
    assert.deepEqual((await readdir(tmp)).sort(), ["otherhost.2.bb.tmp", mine].sort());
  });

  it("sweeps old temp files of an earlier process that had this PID (a container restart), never this process's own", async () => {
    const root = await newDir();
    const tmp = path.join(root, ".tmp");
    await mkdir(tmp, { recursive: true });
    const host = os.hostname().replace(/[^A-Za-z0-9-]/g, "_");
    const earlierLife = `${host}.${process.pid}.0badcafe.aa.tmp`;
    const olderVersion = `${host}.${process.pid}.bb.tmp`;
    const ownFresh = `${host}.${process.pid}.ffffffff.cc.tmp`;
    for (const name of [earlierLife, olderVersion, ownFresh]) {
      await writeFile(path.join(tmp, name), "x");
    }
    const t0 = Date.now();
    const old = new Date(t0 - 2 * 3600_000);
    await utimes(path.join(tmp, earlierLife), old, old);
    await utimes(path.join(tmp, olderVersion), old, old);
    await utimes(path.join(tmp, ownFresh), old, old);
    const store = fsDatastore({ root, staleTempMs: 3600_000, now: () => t0 });
    // Start a put that stalls, so this process has a temp file of its own while the sweep runs.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const writing = store.put(
      (async function* () {
        yield Buffer.from("in flight");
        await gate;
      })(),
    );
    let own: string | undefined;
    for (let i = 0; i < 400 && own === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      own = (await readdir(tmp)).find((n) => ![earlierLife, olderVersion, ownFresh].includes(n));
    }
    assert.ok(own, "the put created its temp file");
    await utimes(path.join(tmp, own), old, old);
    // The start-up sweep (run by the first put) removed all three: each carries another
    // process's token, or none. This process's own file survives a later sweep, however old.
    assert.deepEqual(await readdir(tmp), [own]);
    assert.equal(await store.sweep(), 0);
    assert.deepEqual(await readdir(tmp), [own]);
    release();
    await writing;
    assert.deepEqual(await readdir(tmp), []);
  });

  it("publishes put and delete events on diagnostics_channel", async () => {
    const events: Array<Record<string, unknown>> = [];
    const listener = (message: unknown): void => {
      events.push(message as Record<string, unknown>);
    };
    subscribe("matrix-media-kit:datastore", listener);
    try {
      const store = fsDatastore({ root: await newDir(), id: "observed" });
      const { key } = await store.put(Buffer.from("observe me"));
      await store.put(Buffer.from("observe me"));
      await store.delete(key);
      const mine = events.filter((e) => e.datastore === "observed");
      assert.deepEqual(
        mine.map((e) => [e.op, e.key, e.deduplicated]),
        [
          ["put", key, false],
          ["put", key, true],
          ["delete", key, undefined],
        ],
      );
      assert.equal(typeof mine[0]!.durationMs, "number");
    } finally {
      unsubscribe("matrix-media-kit:datastore", listener);
    }
  });

  it("validates its options precisely", () => {
    assert.throws(() => fsDatastore({ root: "" }), /root/);
    assert.throws(() => fsDatastore({ root: "/tmp/x", staleTempMs: -1 }), /staleTempMs/);
    assert.throws(() => fsDatastore({ root: "/tmp/x", id: "no spaces" }), /id/);
    assert.throws(() => fsDatastore({ root: "" }), configError("root"));
    assert.throws(
      () => fsDatastore({ root: "/tmp/x", staleTempMs: -1 }),
      configError("staleTempMs"),
    );
    assert.throws(() => fsDatastore({ root: "/tmp/x", id: "no spaces" }), configError("id"));
  });
});
