import { describe } from "node:test";
import { s3AndTempDirs } from "./fixture.js";
import { cachedDatastore, fsDatastore, s3Datastore } from "../../src/datastore/index.js";
import { describeDatastore } from "../../src/testing/datastore.js";

describe("datastore drivers", () => {
  const fixture = s3AndTempDirs("mmk-ds-");
  const dir = fixture.newDir;

  describeDatastore("fs", async () => fsDatastore({ root: await dir() }));

  describeDatastore("s3", () =>
    s3Datastore({
      ...fixture.s3.connection,
      prefix: "conformance/",
      presign: true,
    }),
  );

  describeDatastore(
    "cachedDatastore (fs in front of s3)",
    async () =>
      cachedDatastore({
        origin: s3Datastore({
          ...fixture.s3.connection,
          id: "s3-cached",
          prefix: "cached/",
        }),
        local: fsDatastore({ id: "cache", root: await dir() }),
        maxBytes: 64 * 1024 * 1024,
      }),
    { skip: { large: "streams through the fs and s3 drivers, whose large cases run above" } },
  );
});
