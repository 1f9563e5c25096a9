// Shared by the datastore suites: one s3rver for the suite and temp directories, all
// removed after it.
import { after, before } from "node:test";
import { startS3, type S3Server } from "../harness/s3.js";
import { tempDir } from "../harness/tmp.js";

export function s3AndTempDirs(prefix: string): {
  readonly s3: S3Server;
  newDir: () => Promise<string>;
} {
  let server: S3Server | undefined;
  const dirs: Array<{ path: string; cleanup(): Promise<void> }> = [];
  before(async () => {
    server = await startS3();
  });
  after(async () => {
    await server?.close();
    for (const d of dirs) await d.cleanup();
  });
  return {
    get s3(): S3Server {
      if (!server) throw new Error("the S3 server starts in the suite's before hook");
      return server;
    },
    newDir: async () => {
      const d = await tempDir(prefix);
      dirs.push(d);
      return d.path;
    },
  };
}
