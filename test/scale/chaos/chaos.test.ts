// The chaos test: three standalone processes (distinct machine IDs, roles split) on two real
// Redis shards, PostgreSQL and S3 under a mixed load, while one process is killed with
// SIGKILL, one Redis shard is frozen (SIGSTOP) and thawed, and one process reloads a changed
// shard list on SIGHUP. Nothing acknowledged may be lost, no client may see a 5xx from a
// surviving process, and at most one process may lead the background jobs at any instant.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { freePort } from "../../harness/net.js";
import { createTestDatabase, type TestDatabase } from "../../harness/postgres.js";
import { startRedisShards, type RedisProcess } from "../../harness/redis.js";
import { startS3, type S3Server } from "../../harness/s3.js";
import { tempDir } from "../../harness/tmp.js";
import { CLI, startServerProcess, type ServerProcess } from "../../harness/server-process.js";

const TOKEN = "chaos-token";
const LEASE_TTL_MS = 3_000;
const LOAD_MS = 20_000;
const WORKERS = 6;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  process: string;
  kind: "upload" | "download" | "thumbnail";
  at: number;
  status?: number;
  error?: string;
}

describe(
  "chaos: kill, frozen shard and reload under load",
  { skip: !existsSync(CLI) && "dist/ is not built (npm test builds it first)" },
  () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let db: TestDatabase;
    let shards: RedisProcess[];
    let s3: S3Server;
    const procs: ServerProcess[] = [];
    const configs = new Map<string, { file: string; raw: Record<string, unknown> }>();

    before(async () => {
      dir = await tempDir("mmk-chaos-");
      [db, shards, s3] = await Promise.all([createTestDatabase(), startRedisShards(2), startS3()]);
      const roles: Record<string, string[]> = {
        p1: ["upload", "download", "background"],
        p2: ["thumbnail", "download", "background"],
        p3: ["upload", "download", "thumbnail", "preview", "federation", "admin", "background"],
      };
      for (const [i, name] of ["p1", "p2", "p3"].entries()) {
        const raw = {
          serverName: "chaos.test",
          listen: { host: "127.0.0.1", port: await freePort() },
          datastores: [
            {
              id: "s3",
              type: "s3",
              kinds: ["local", "remote", "thumbnail", "preview"],
              ...s3.connection,
            },
          ],
          metadata: { postgres: db.url },
          cache: { memory: { maxBytes: "8MiB" }, redis: { shards: shards.map((s) => s.url) } },
          auth: { tokens: { [TOKEN]: "@load:chaos.test" } },
          limits: { rateLimit: false, maxConcurrentUploadsPerUser: 16 },
          thumbnails: { enabled: true },
          roles: roles[name],
          background: { leaseTtlMs: LEASE_TTL_MS },
        };
        const file = path.join(dir.path, `${name}.yaml`);
        await writeFile(file, JSON.stringify(raw));
        configs.set(name, { file, raw });
        procs.push(await startServerProcess(name, file, { MACHINE_ID: String(10 + i) }));
      }
    });
    after(async () => {
      await Promise.all(procs.map((p) => p.stop()));
      for (const s of shards ?? []) s.cont();
      await Promise.all((shards ?? []).map((s) => s.close()));
      await s3?.close();
      await db?.drop();
      await dir?.cleanup();
    });

    /** Who leads, per process, from its log lines (time of arrival in this process). */
    function leadership(killed: { name: string; at: number } | undefined) {
      const events: Array<{ at: number; name: string; leader: boolean }> = [];
      for (const p of procs) {
        for (const { at, line } of p.logs) {
          if (line.msg === "elected leader") events.push({ at, name: p.name, leader: true });
          if (line.msg === "no longer leader") events.push({ at, name: p.name, leader: false });
        }
        if (killed?.name === p.name) events.push({ at: killed.at, name: p.name, leader: false });
      }
      return events.sort((a, b) => a.at - b.at);
    }
    function leadersAt(events: ReturnType<typeof leadership>, t: number): string[] {
      const state = new Map<string, boolean>();
      for (const e of events) if (e.at <= t) state.set(e.name, e.leader);
      return [...state].filter(([, v]) => v).map(([k]) => k);
    }

    it("loses no acknowledged upload, shows no 5xx from survivors, has at most one leader", async () => {
      const outcomes: Outcome[] = [];
      const stored: Array<{ path: string; sha: string; png: boolean }> = [];
      // eslint-disable-next-line prefer-const -- assigned once, after the closures that read it
      let killed: { name: string; at: number } | undefined;
      const live = () => procs.filter((p) => p.name !== killed?.name);
      const serving = (role: "upload" | "download" | "thumbnail") =>
        live().filter((p) => (configs.get(p.name)!.raw.roles as string[]).includes(role));
      const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
      const png = await sharp({
        create: { width: 64, height: 48, channels: 3, background: { r: 10, g: 120, b: 200 } },
      })
        .png()
        .toBuffer();

      async function call(
        p: ServerProcess,
        kind: Outcome["kind"],
        urlPath: string,
        init: RequestInit = {},
      ) {
        const outcome: Outcome = { process: p.name, kind, at: performance.now() };
        outcomes.push(outcome);
        try {
          const res = await fetch(p.url + urlPath, {
            ...init,
            headers: {
              authorization: `Bearer ${TOKEN}`,
              ...(init.headers as Record<string, string>),
            },
            signal: AbortSignal.timeout(30_000),
          });
          outcome.status = res.status;
          return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
        } catch (error) {
          outcome.error = (error as Error).cause ? String((error as Error).cause) : String(error);
          return undefined;
        }
      }

      const started = performance.now();
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const roll = Math.random();
          if (roll < 0.4 || stored.length === 0) {
            const isPng = Math.random() < 0.3;
            const body = isPng ? png : randomBytes(1024 + Math.floor(Math.random() * 200_000));
            const res = await call(pick(serving("upload")), "upload", "/_matrix/media/v3/upload", {
              method: "POST",
              body,
              headers: { "content-type": isPng ? "image/png" : "application/octet-stream" },
            });
            if (res?.status === 200) {
              const uri = String(
                (JSON.parse(res.body.toString()) as { content_uri: string }).content_uri,
              );
              stored.push({ path: uri.slice("mxc://".length), sha: sha(body), png: isPng });
            }
          } else if (roll < 0.85) {
            const media = pick(stored);
            await call(
              pick(serving("download")),
              "download",
              `/_matrix/client/v1/media/download/${media.path}`,
            );
          } else {
            const pngs = stored.filter((m) => m.png);
            if (pngs.length === 0) continue;
            await call(
              pick(serving("thumbnail")),
              "thumbnail",
              `/_matrix/client/v1/media/thumbnail/${pick(pngs).path}?width=32&height=32&method=crop`,
            );
          }
        }
      };
      const load = Promise.all(Array.from({ length: WORKERS }, worker));

      // The chaos, on a schedule bounded by LOAD_MS.
      await sleep(3_000);
      const leadersNow = leadersAt(leadership(undefined), performance.now());
      const victim = procs.find((p) => p.name === leadersNow[0]) ?? procs[0]!;
      victim.child.kill("SIGKILL");
      killed = { name: victim.name, at: performance.now() };
      await sleep(4_000);
      shards[1]!.stop();
      const frozenAt = performance.now();
      await sleep(3_000);
      shards[1]!.cont();
      const thawedAt = performance.now();
      await sleep(2_000);
      const reloaded = live()[0]!;
      const entry = configs.get(reloaded.name)!;
      const cache = entry.raw.cache as { redis: { shards: string[] } };
      await writeFile(
        entry.file,
        JSON.stringify({ ...entry.raw, cache: { ...cache, redis: { shards: [shards[0]!.url] } } }),
      );
      reloaded.child.kill("SIGHUP");
      const reloadAt = performance.now();
      await sleep(Math.max(0, LOAD_MS - (performance.now() - started)));
      stop = true;
      await load;
      // Let a leader settle after the last disturbance before judging leadership.
      await sleep(2 * LEASE_TTL_MS);

      // Every acknowledged upload, from every surviving download process, byte-identical.
      const survivors = serving("download");
      let checked = 0;
      for (const media of stored) {
        for (const p of survivors) {
          const res = await call(p, "download", `/_matrix/client/v1/media/download/${media.path}`);
          assert.equal(res?.status, 200, `${media.path} on ${p.name}`);
          assert.equal(sha(res.body), media.sha, `${media.path} on ${p.name}`);
          checked++;
        }
      }
      // No record points to a missing blob (records whose answer was lost with the killed process too).
      const rows = await db.pool.query<{ origin: string; media_id: string }>(
        "SELECT origin, media_id FROM mmk_media",
      );
      for (const row of rows.rows) {
        const res = await call(
          survivors[0]!,
          "download",
          `/_matrix/client/v1/media/download/${row.origin}/${row.media_id}`,
        );
        assert.equal(res?.status, 200, `record ${row.origin}/${row.media_id} has its blob`);
      }

      // No 5xx (nor a failed connection) from a surviving process.
      const excused = (o: Outcome) => o.process === killed.name && o.at >= killed.at - 1_000;
      const bad = outcomes.filter(
        (o) => !excused(o) && (o.error !== undefined || (o.status ?? 0) >= 500),
      );
      assert.deepEqual(
        bad.map(
          (o) =>
            `${o.process} ${o.kind} ${o.status ?? o.error} at ${Math.round(o.at - started)} ms`,
        ),
        [],
        procs.map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`).join("\n"),
      );

      // At most one leader at every sampled instant, and a leader again within the bound.
      const events = leadership(killed);
      const end = performance.now();
      let maxLeaders = 0;
      for (let t = started; t <= end; t += 50) {
        maxLeaders = Math.max(maxLeaders, leadersAt(events, t).length);
      }
      assert.ok(maxLeaders <= 1, `at most one leader at a time (saw ${maxLeaders})`);
      const takeover = events.find((e) => e.leader && e.at > killed.at && e.name !== killed.name);
      const takeoverMs = takeover ? takeover.at - killed.at : Infinity;
      assert.equal(leadersAt(events, end).length, 1, "one leader at the end");
      // The lock expires at most one TTL after the victim's last renewal; the others compete
      // every TTL/3. Bounded generously for a busy machine.
      assert.ok(
        takeoverMs < 4 * LEASE_TTL_MS,
        `new leader within the bound (${Math.round(takeoverMs)} ms)`,
      );

      // The reload was applied, and S3 has no multipart upload left open.
      assert.ok(
        reloaded.logs.some(({ at, line }) => at >= reloadAt && /reload/i.test(String(line.msg))),
        `the reload was logged:\n${reloaded.output().slice(-2000)}`,
      );
      assert.deepEqual(await s3.openMultipartUploads(), []);

      const byCause = new Map<string, number>();
      for (const o of outcomes) {
        const cause = o.error ? `error on ${excused(o) ? "killed" : "survivor"}` : String(o.status);
        byCause.set(cause, (byCause.get(cause) ?? 0) + 1);
      }
      console.log(
        JSON.stringify({
          requests: outcomes.length,
          byKind: Object.fromEntries(
            ["upload", "download", "thumbnail"].map((k) => [
              k,
              outcomes.filter((o) => o.kind === k).length,
            ]),
          ),
          byCause: Object.fromEntries(byCause),
          acknowledgedUploads: stored.length,
          downloadsChecked: checked,
          records: rows.rowCount,
          leaderChanges: events.filter((e) => e.leader).length,
          killed: killed.name,
          takeoverMs: Math.round(takeoverMs),
          frozenShardMs: Math.round(thawedAt - frozenAt),
          reloaded: reloaded.name,
        }),
      );
    });
  },
);
