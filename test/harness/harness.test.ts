import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { S3Client, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { Redis } from "ioredis";
import { createTestDatabase } from "./postgres.js";
import { startRedis } from "./redis.js";
import { startS3 } from "./s3.js";

describe("test harness", () => {
  it("starts, freezes, kills and restarts a real redis-server", async () => {
    const r = await startRedis({ password: "p@ss word" });
    after(() => r.close());
    const client = new Redis(r.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    await client.connect();
    assert.equal(await client.ping(), "PONG");
    await client.set("k", "v");
    await r.restart();
    client.disconnect();
    const again = new Redis(r.url, { maxRetriesPerRequest: 0 });
    assert.equal(await again.get("k"), null, "a restarted shard starts empty");
    again.disconnect();
  });

  it("refuses clients without the password", async () => {
    const r = await startRedis({ password: "secret" });
    after(() => r.close());
    const client = new Redis(r.port, "127.0.0.1", { maxRetriesPerRequest: 0, lazyConnect: true });
    await client.connect().catch(() => undefined);
    await assert.rejects(client.get("x"), /NOAUTH/);
    client.disconnect();
  });

  it("creates and drops a throwaway PostgreSQL database", async () => {
    const db = await createTestDatabase();
    const { rows } = await db.pool.query<{ d: string }>("select current_database() as d");
    assert.equal(rows[0]!.d, db.database);
    await db.drop();
  });

  it("serves an S3 bucket over HTTP with signatures", async () => {
    const s3 = await startS3();
    after(() => s3.close());
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: s3.credentials,
      forcePathStyle: true,
    });
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "a", Body: "hello" }));
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: "a" }));
    assert.equal(await got.Body!.transformToString(), "hello");
    const bad = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: "UNKNOWN", secretAccessKey: "wrong" },
      forcePathStyle: true,
    });
    // s3rver checks the signing key ID but not the SigV4 signature itself.
    await assert.rejects(
      bad.send(new GetObjectCommand({ Bucket: s3.bucket, Key: "a" })),
      /access key/i,
    );
    client.destroy();
    bad.destroy();
  });
});
