// A throwaway CA and one server certificate made with the openssl CLI: for 127.0.0.1 and
// localhost by default, or for the subject alternative names a test gives (other loopback
// addresses for federation peers, test host names). Every TLS test and bench uses this one.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { requireService } from "../harness/require.js";

export interface TestCertificates {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** The server certificate, its key and the CA certificate (PEM). */
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  cleanup(): Promise<void>;
}

export interface TestCertificateOptions {
  /** Subject alternative names, e.g. `["IP:127.0.0.2", "DNS:b.test"]`. @defaultValue 127.0.0.1 and localhost */
  sans?: readonly string[];
}

export async function createTestCertificates(
  options: TestCertificateOptions = {},
): Promise<TestCertificates> {
  requireService("openssl", "openssl");
  const sans = options.sans ?? ["IP:127.0.0.1", "DNS:localhost"];
  const dir = await mkdtemp(path.join(os.tmpdir(), "mmk-tls-"));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
      "req",
      "-x509",
      ...ec,
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
      ...ec,
      "-subj",
      "/CN=test server",
      "-keyout",
      file("server.key"),
      "-out",
      file("server.csr"),
    );
    await writeFile(file("ext.cnf"), `subjectAltName=${sans.join(",")}\n`);
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
    const [cert, key, ca] = await Promise.all(
      ["server.crt", "server.key", "ca.crt"].map((name) => readFile(file(name))),
    );
    return {
      certFile: file("server.crt"),
      keyFile: file("server.key"),
      caFile: file("ca.crt"),
      cert: cert!,
      key: key!,
      ca: ca!,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
