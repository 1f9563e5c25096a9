// Three processes of server A (child processes of the shipped CLI) share two Redis shards,
// PostgreSQL and S3; 100 concurrent requests across them for one media of server B make
// exactly one federation request reach B.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, startServerProcess, type ServerProcess } from "../../harness/server-process.js";
import { freePort } from "../../harness/net.js";
import { createTestDatabase, type TestDatabase } from "../../harness/postgres.js";
import { startRedisShards, type RedisProcess } from "../../harness/redis.js";
import { startS3, type S3Server } from "../../harness/s3.js";
import {
  countFederationRequests,
  createTls,
  peerConfig,
  startPeer,
  type Peer,
  type Tls,
} from "./fixture.js";
import { generateSigningKey } from "../../../src/federation/index.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe(
  "one federation fetch across three processes",
  { skip: !existsSync(CLI) && "dist/ is not built (npm test builds it first)" },
  () => {
    let tls: Tls;
    let b: Peer;
    let db: TestDatabase;
    let shards: RedisProcess[];
    let s3: S3Server;
    const children: ServerProcess[] = [];
    let counter: ReturnType<typeof countFederationRequests>;

    before(async () => {
      tls = await createTls();
      [db, shards, s3] = await Promise.all([createTestDatabase(), startRedisShards(2), startS3()]);
      b = await startPeer(tls, { ip: "127.0.0.3" });
      counter = countFederationRequests();
      // One deployment: one server name (the first process's address) and one signing key.
      const ports = [await freePort(), await freePort(), await freePort()];
      const signingKey = generateSigningKey();
      const shared = {
        datastores: [
          {
            id: "s3",
            type: "s3",
            kinds: ["local", "remote", "thumbnail", "preview"],
            ...s3.connection,
          },
        ],
        metadata: { postgres: db.url },
        cache: {
          memory: { maxBytes: "8MiB" },
          // Exactly once holds while Redis answers within the command timeout (past it the
          // lock fails open by design); a generous bound keeps that true on a busy machine.
          redis: { shards: shards.map((s) => s.url), commandTimeoutMs: 5000 },
        },
      };
      for (const [i, port] of ports.entries()) {
        const { raw } = await peerConfig(tls, {
          ip: "127.0.0.2",
          port: ports[0]!,
          signingKey,
          extra: shared,
        });
        const file = path.join(tls.dir, `a${i}.yaml`);
        await writeFile(file, JSON.stringify({ ...raw, listen: { ...raw.listen, port } }));
        children.push(await startServerProcess(`a${i}`, file));
      }
    });
    after(async () => {
      counter?.close();
      await Promise.all(children.map((c) => c.stop()));
      await b?.server.close();
      await Promise.all((shards ?? []).map((s) => s.close()));
      await s3?.close();
      await db?.drop();
      await tls?.close();
    });

    it("100 concurrent requests spread over 3 processes → exactly one request reaches B", async () => {
      const bytes = Buffer.alloc(2 * 1024 * 1024);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13 + 5) & 0xff;
      const up = await tls.fetch(`${b.url}/_matrix/media/v3/upload`, {
        method: "POST",
        headers: { authorization: `Bearer ${b.token}`, "content-type": "application/octet-stream" },
        body: bytes,
      });
      assert.equal(up.status, 200);
      const mxc = ((await up.json()) as { content_uri: string }).content_uri;
      const before = counter.count("federation_download");
      const results = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const res = await tls.fetch(
            `${children[i % 3]!.url}/_matrix/client/v1/media/download/${mxc.slice(6)}`,
            { headers: { authorization: "Bearer token-127.0.0.2" } },
          );
          return { status: res.status, sha: sha(Buffer.from(await res.arrayBuffer())) };
        }),
      );
      const statuses = results.map((r) => r.status);
      assert.deepEqual(
        statuses.filter((s) => s !== 200),
        [],
        `every request answered 200; process output:\n${children
          .map((c) => c.output())
          .join("\n")
          .slice(-4000)}`,
      );
      assert.ok(
        results.every((r) => r.sha === sha(bytes)),
        "every answer has B's bytes",
      );
      assert.equal(
        counter.count("federation_download") - before,
        1,
        "exactly one federation request reached B",
      );
      const rows = await db.pool.query(
        "SELECT kind, size, sha256 FROM mmk_media WHERE origin = $1",
        [b.serverName],
      );
      assert.equal(rows.rowCount, 1);
      assert.equal(rows.rows[0].kind, "remote");
    });
  },
);
