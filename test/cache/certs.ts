// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { requireService } from "../harness/require.js";

export interface TestCertificates {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** The CA certificate (PEM), for clients. */
  ca: Buffer;
  cleanup(): Promise<void>;
}

export async function createTestCertificates(): Promise<TestCertificates> {
  requireService("openssl", "openssl");
  const dir = await mkdtemp(path.join(os.tmpdir(), "mmk-tls-"));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=mmk test CA",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.crt"),
  );
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
  );
  const { writeFile } = await import("node:fs/promises");
  await writeFile(file("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.crt"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    file("ext.cnf"),
    "-out",
    file("server.crt"),
  );
  return {
    certFile: file("server.crt"),
    keyFile: file("server.key"),
    caFile: file("ca.crt"),
    ca: await readFile(file("ca.crt")),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
