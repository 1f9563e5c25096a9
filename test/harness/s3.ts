// An in-process S3-protocol server (s3rver) with one bucket, on a free loopback port,
// checking request signatures like real S3.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
// @ts-expect-error s3rver ships no types
import S3rver from "s3rver";
import { freePort } from "./net.js";

export interface S3Server {
  /** `http://127.0.0.1:port`. */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** Where s3rver keeps the objects on disk. */
  readonly directory: string;
  close(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<unknown>;
  close(): Promise<void>;
}

export async function startS3(options: { bucket?: string } = {}): Promise<S3Server> {
  const bucket = options.bucket ?? "media";
  const directory = await mkdtemp(path.join(os.tmpdir(), "mmk-s3-"));
  const port = await freePort();
  const server = new (S3rver as new (o: object) => S3rverInstance)({
    port,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
    vhostBuckets: false,
  });
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    directory,
    close: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
