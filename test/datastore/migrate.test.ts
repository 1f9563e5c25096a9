import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, describe, it } from "node:test";
import { s3AndTempDirs } from "./fixture.js";
import {
  fsDatastore,
  migrateDatastore,
  s3Datastore,
  type Datastore,
  type MigrationProgress,
} from "../../src/datastore/index.js";
import { main } from "../../src/cli/index.js";
import { ConfigError } from "../../src/errors.js";
import { formatProgress } from "../../src/cli/migrate.js";

const cli = path.join(import.meta.dirname, "..", "..", "src", "cli", "index.ts");

function blobBytes(i: number): Buffer {
  const size = 50 + ((i * 7919) % 8000);
  const out = Buffer.alloc(size);
  let h = createHash("sha256").update(`blob-${i}`).digest();
  for (let off = 0; off < size; off += 32) {
    h.copy(out, off);
    h = createHash("sha256").update(h).digest();
  }
  return out;
}

async function listAll(store: Datastore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const e of store.list!()) out.set(e.key, e.size);
  return out;
}

async function sha256Of(store: Datastore, key: string): Promise<{ size: number; sha256: string }> {
  const { stream } = await store.get(key);
  const hash = createHash("sha256");
  let size = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    hash.update(c);
    size += c.length;
  }
  return { size, sha256: hash.digest("hex") };
}

function captureIo(env: Record<string, string | undefined> = {}, tty = false) {
  let stdout = "";
  let stderr = "";
  return {
    io: {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s), isTTY: tty, columns: 120 },
      env,
    },
    out: () => stdout,
    err: () => stderr,
  };
}

describe("migrateDatastore and the migrate CLI", () => {
  const fixture = s3AndTempDirs("mmk-mig-");
  const newDir = fixture.newDir;
  const s3Store = (prefix: string): Datastore =>
    s3Datastore({
      ...fixture.s3.connection,
      prefix,
    });

  it("fs → s3 of 1,000 blobs killed half way with kill -9, then resumed: none lost, all verified", async () => {
    const root = await newDir();
    const source = fsDatastore({ root, fsync: false });
    const expected = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const { key, size } = await source.put(blobBytes(i));
      expected.set(key, size);
    }
    assert.equal(expected.size, 1000);

    const spec = `s3://${fixture.s3.bucket}/migrated/?endpoint=${encodeURIComponent(fixture.s3.endpoint)}&forcePathStyle=true&region=${fixture.s3.region}`;
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: fixture.s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fixture.s3.credentials.secretAccessKey,
    };
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        cli,
        "migrate",
        "--from",
        `fs:${root}`,
        "--to",
        spec,
        "--delete",
        "--no-progress",
        "--concurrency",
        "4",
      ],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    let log = "";
    child.stderr.on("data", (d: Buffer) => (log += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once("exit", (_c, sig) => resolve(sig)),
    );
    const killedAt = await new Promise<number>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        log += d.toString();
        const done = [...log.matchAll(/done=(\d+)/g)].map((m) => Number(m[1]));
        const last = done.at(-1) ?? 0;
        if (last >= 500) {
          child.kill("SIGKILL");
          resolve(last);
        }
      });
      child.once("exit", () =>
        reject(new Error(`the migration ended before it could be killed:\n${log}`)),
      );
    });
    assert.equal(await exited, "SIGKILL");
    assert.ok(killedAt < 1000, `killed half way (at ${killedAt})`);

    const destination = s3Store("migrated/");
    const left = await listAll(source);
    const copied = await listAll(destination);
    assert.ok(left.size > 0 && left.size < 1000, `the source still holds ${left.size} blobs`);
    // Deleted from the source only after verification: every blob gone from the source is
    // complete at the destination.
    for (const key of expected.keys()) {
      if (left.has(key)) continue;
      assert.ok(copied.has(key), `${key} left the source but is not at the destination`);
      assert.deepEqual(await sha256Of(destination, key), { size: expected.get(key)!, sha256: key });
    }

    // Resume (in process, through the same CLI entry point).
    const cap = captureIo({
      AWS_ACCESS_KEY_ID: fixture.s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fixture.s3.credentials.secretAccessKey,
    });
    const code = await main(
      ["migrate", "--from", `fs:${root}`, "--to", spec, "--delete", "--no-progress"],
      cap.io,
    );
    assert.equal(code, 0, cap.err());
    assert.match(
      cap.out(),
      /finished: \d+ copied, \d+ already at the destination, \d+ deleted from the source, 0 failed/,
    );
    const skipped = Number(/(\d+) already at the destination/.exec(cap.out())![1]);
    assert.ok(skipped >= 0);

    assert.equal((await listAll(source)).size, 0, "the source is empty");
    const final = await listAll(destination);
    assert.equal(final.size, 1000);
    for (const [key, size] of expected) {
      assert.equal(final.get(key), size);
      assert.deepEqual(await sha256Of(destination, key), { size, sha256: key });
    }
    await destination.dispose?.();
  });

  it("never deletes a source blob whose copy fails verification", async () => {
    const source = fsDatastore({ root: await newDir(), fsync: false });
    for (let i = 0; i < 20; i++) await source.put(blobBytes(2000 + i));
    const real = fsDatastore({ root: await newDir(), fsync: false, id: "dest" });
    // A destination that corrupts what it serves back (bit rot, a broken gateway...).
    const rotten: Datastore = {
      ...real,
      get: async (key, options) => {
        const got = await real.get(key, options);
        async function* flip(): AsyncGenerator<Uint8Array> {
          let first = true;
          for await (const c of got.stream as AsyncIterable<Buffer>) {
            const copy = Buffer.from(c);
            if (first && copy.length > 0) copy[0]! ^= 0xff;
            first = false;
            yield copy;
          }
        }
        return { ...got, stream: (await import("node:stream")).Readable.from(flip()) };
      },
    };
    const report = await migrateDatastore({ from: source, to: rotten, delete: true });
    assert.equal(report.failed, 20);
    assert.equal(report.deleted, 0);
    assert.match(report.errors[0]!.error.message, /Verification/);
    assert.equal((await listAll(source)).size, 20, "every source blob is kept");
  });

  it("skips blobs already verified at the destination and reports progress with an ETA", async () => {
    const source = fsDatastore({ root: await newDir(), fsync: false });
    let bytes = 0;
    for (let i = 0; i < 30; i++) bytes += (await source.put(blobBytes(3000 + i))).size;
    const destination = s3Store("skip/");
    const seen: MigrationProgress[] = [];
    const first = await migrateDatastore({
      from: source,
      to: destination,
      onProgress: (p) => seen.push(p),
    });
    assert.deepEqual([first.copied, first.skipped, first.failed, first.deleted], [30, 0, 0, 0]);
    assert.equal(first.total, 30);
    assert.equal(first.totalBytes, bytes);
    assert.equal(seen.at(-1)!.done, 30);
    assert.equal(seen.at(-1)!.etaMs, 0);
    assert.ok(seen.every((p, i) => i === 0 || p.done >= seen[i - 1]!.done));

    // A corrupt copy at the destination is replaced on the next run.
    const victim = [...(await listAll(source)).keys()][0]!;
    const s3raw = s3Store("skip/");
    await s3raw.delete(victim);
    const again = await migrateDatastore({ from: source, to: destination });
    assert.deepEqual([again.copied, again.skipped, again.failed], [1, 29, 0]);
    await destination.dispose?.();
    await s3raw.dispose?.();
  });

  it("stops on abort and can be resumed", async () => {
    const source = fsDatastore({ root: await newDir(), fsync: false });
    for (let i = 0; i < 40; i++) await source.put(blobBytes(4000 + i));
    const destination = fsDatastore({ root: await newDir(), fsync: false, id: "d" });
    const controller = new AbortController();
    await assert.rejects(
      migrateDatastore({
        from: source,
        to: destination,
        concurrency: 2,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.done >= 10) controller.abort();
        },
      }),
    );
    const partial = (await listAll(destination)).size;
    assert.ok(partial >= 10 && partial < 40);
    const report = await migrateDatastore({ from: source, to: destination });
    assert.equal(report.failed, 0);
    assert.equal(report.copied + report.skipped, 40);
    assert.ok(report.skipped >= 10);
    assert.equal((await listAll(destination)).size, 40);
  });

  it("migrates between datastores named in the standalone server's config", async () => {
    const base = await newDir();
    const source = fsDatastore({ root: path.join(base, "old"), fsync: false });
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push((await source.put(blobBytes(6000 + i))).key);
    const file = path.join(base, "media.yaml");
    await writeFile(
      file,
      [
        "datastores:",
        "  - { id: old, type: fs, kinds: [local], root: ./old }",
        "  - { id: new, type: fs, kinds: [local], root: ./new, fsync: false }",
        "",
      ].join("\n"),
    );
    const cap = captureIo();
    const code = await main(
      ["migrate", "--config", file, "--from", "old", "--to", "new", "--delete", "--no-progress"],
      cap.io,
    );
    assert.equal(code, 0, cap.err());
    const moved = await listAll(fsDatastore({ root: path.join(base, "new") }));
    assert.deepEqual([...moved.keys()].sort(), keys.sort());
    assert.equal((await listAll(source)).size, 0);
    const bad = captureIo();
    assert.equal(
      await main(["migrate", "--config", file, "--from", "old", "--to", "nowhere"], bad.io),
      2,
    );
  });

  it("draws a progress bar on a terminal and validates its arguments", async () => {
    const root = await newDir();
    const source = fsDatastore({ root, fsync: false });
    for (let i = 0; i < 5; i++) await source.put(blobBytes(5000 + i));
    const cap = captureIo({}, true);
    assert.equal(
      await main(["migrate", "--from", `fs:${root}`, "--to", `fs:${await newDir()}`], cap.io),
      0,
    );
    assert.match(cap.err(), /\r\[#{24}\] 5\/5 blobs .* ETA 0:00/);

    const bad = captureIo();
    assert.equal(await main(["migrate", "--from", "nowhere", "--to", "fs:/tmp/x"], bad.io), 2);
    assert.match(bad.err(), /fs:PATH/);
    assert.equal(
      await main(
        ["migrate", "--from", `fs:${root}`, "--to", "fs:/tmp/x", "--concurrency", "0"],
        bad.io,
      ),
      2,
    );
    assert.match(bad.err(), /--concurrency/);
    const badBucket = captureIo();
    assert.equal(
      await main(["migrate", "--from", "s3://x/", "--to", "fs:/tmp/x"], badBucket.io),
      2,
      "a refused datastore option is one line, not a stack trace",
    );
    assert.match(
      badBucket.err(),
      /^invalid configuration: s3Datastore: expected options\.bucket .*"x"\n$/,
    );
    assert.equal(await main(["frobnicate"], bad.io), 2);

    const line = formatProgress({
      total: 1000,
      totalBytes: 2_000_000,
      done: 500,
      bytesDone: 1_000_000,
      copied: 480,
      skipped: 20,
      failed: 0,
      deleted: 0,
      elapsedMs: 10_000,
      bytesPerSecond: 100_000,
      etaMs: 10_000,
    });
    assert.equal(
      line,
      "[############............] 500/1000 blobs  1.0 MB/2.0 MB  100.0 KB/s  ETA 0:10  (20 already there)",
    );
  });
  it("refuses bad options with a ConfigError naming the option", async () => {
    const from = fsDatastore({ id: "from", root: await newDir() });
    const to = fsDatastore({ id: "to", root: await newDir() });
    const readOnly = fsDatastore({ id: "ro", root: await newDir(), readOnly: true });
    const cases: Array<[Parameters<typeof migrateDatastore>[0], string]> = [
      [{ from, to, concurrency: 0 }, "concurrency"],
      [{ from: { ...from, list: undefined }, to }, "from"],
      [{ from, to: readOnly }, "to"],
      [{ from: readOnly, to, delete: true }, "delete"],
    ];
    for (const [options, option] of cases) {
      await assert.rejects(migrateDatastore(options), (err: unknown) => {
        assert.ok(ConfigError.is(err), `expected a ConfigError, got ${String(err)}`);
        assert.equal(err.option, option);
        assert.match(err.message, /^migrateDatastore: /);
        return true;
      });
    }
  });
});
