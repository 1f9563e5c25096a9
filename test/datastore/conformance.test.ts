import { after, before, describe } from "node:test";
import { cachedDatastore, fsDatastore, s3Datastore } from "../../src/datastore/index.js";
import { describeDatastore } from "../../src/testing/datastore.js";
import { startS3, type S3Server } from "../harness/s3.js";
import { tempDir } from "../harness/tmp.js";

describe("datastore drivers", () => {
  let s3!: S3Server;
  const dirs: Array<{ path: string; cleanup(): Promise<void> }> = [];
  before(async () => {
    s3 = await startS3();
  });
  after(async () => {
    await s3.close();
    for (const d of dirs) await d.cleanup();
  });
  const dir = async (): Promise<string> => {
    const d = await tempDir("mmk-ds-");
    dirs.push(d);
    return d.path;
  };

  describeDatastore("fs", async () => fsDatastore({ root: await dir() }));

  describeDatastore("s3", () =>
    s3Datastore({
      bucket: s3.bucket,
      prefix: "conformance/",
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: s3.region,
      credentials: s3.credentials,
      presign: true,
    }),
  );

  describeDatastore(
    "cachedDatastore (fs in front of s3)",
    async () =>
      cachedDatastore({
        origin: s3Datastore({
          id: "s3-cached",
          bucket: s3.bucket,
          prefix: "cached/",
          endpoint: s3.endpoint,
          forcePathStyle: true,
          region: s3.region,
          credentials: s3.credentials,
        }),
        local: fsDatastore({ id: "cache", root: await dir() }),
        maxBytes: 64 * 1024 * 1024,
      }),
    { skip: { large: "streams through the fs and s3 drivers, whose large cases run above" } },
  );
});
