// Federation authentication benchmark: signJson / verifyJsonSignature / signRequest and the
// request verifier's key-cache-hit path, each against raw node:crypto sign/verify over the
// same canonical bytes, same run. Run: npm run bench -- federation-keys
import { sign, verify } from "node:crypto";
import {
  canonicalJson,
  createKeyFetcher,
  createRequestVerifier,
  generateSigningKey,
  memoryKeyStore,
  signJson,
  signRequest,
  verifyJsonSignature,
} from "../src/federation/index.js";
import { finish, report } from "./lib.js";

const key = generateSigningKey("bench");
const SERVER = "remote.example";
// A typical body: a key response of a server with one key.
const object = {
  server_name: SERVER,
  valid_until_ts: 1_700_000_000_000,
  verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } },
  old_verify_keys: {},
};
const bytes = Buffer.from(canonicalJson(object), "utf8");
const signed = signJson(object, SERVER, key);
const signature = Buffer.from(signed.signatures[SERVER]![key.keyId]!, "base64");

/**
 * Ours and the baseline in alternating batches of 50 operations for about 3 s, each side's
 * rate in operations per second of process CPU time: on a shared machine, other work then
 * slows both sides alike instead of whichever happened to run at the time.
 */
async function compare(ours: () => unknown, baseline: () => unknown) {
  const sides = [
    { fn: ours, n: 0, cpuUs: 0 },
    { fn: baseline, n: 0, cpuUs: 0 },
  ];
  for (const side of sides) for (let i = 0; i < 500; i++) await side.fn(); // warm up
  const end = performance.now() + 3000;
  while (performance.now() < end) {
    for (const side of sides) {
      const start = process.cpuUsage();
      for (let i = 0; i < 50; i++) await side.fn();
      const used = process.cpuUsage(start);
      side.n += 50;
      side.cpuUs += used.user + used.system;
    }
  }
  const [a, b] = sides.map((side) => (side.n * 1e6) / side.cpuUs) as [number, number];
  return { value: a, baseline: b };
}

report({
  name: "signJson (canonicalise + sign)",
  ...(await compare(
    () => signJson(object, SERVER, key),
    () => sign(null, bytes, key.privateKey),
  )),
  baselineName: "raw crypto.sign, same bytes",
  unit: "ops/cpu-s",
  target: 0.9,
});
report({
  name: "verifyJsonSignature (base64 key)",
  ...(await compare(
    () => verifyJsonSignature(signed, SERVER, key.keyId, key.publicKeyBase64),
    () => verify(null, bytes, key.publicKey, signature),
  )),
  baselineName: "raw crypto.verify, same bytes",
  unit: "ops/cpu-s",
  target: 0.9,
});

const request = {
  method: "GET",
  uri: "/_matrix/federation/v1/media/download/abcdef",
  origin: SERVER,
  destination: "media.example",
};
const requestBytes = Buffer.from(canonicalJson(request), "utf8");
report({
  name: "signRequest (X-Matrix header)",
  ...(await compare(
    () => signRequest(key, request),
    () => sign(null, requestBytes, key.privateKey),
  )),
  baselineName: "raw crypto.sign, same bytes",
  unit: "ops/cpu-s",
  target: 0.9,
});

// The verifier with the origin's key already in the store: no fetch, one verification.
const store = memoryKeyStore({ maxServers: 10 });
await store.put(SERVER, [
  { keyId: key.keyId, publicKey: key.publicKeyBase64, validUntilTs: Date.now() + 86_400_000 },
]);
const keys = createKeyFetcher({
  serverName: "media.example",
  store,
  fetchJson: () => Promise.reject(new Error("the benchmark never fetches")),
});
const verifier = createRequestVerifier({ serverNames: ["media.example"], keys });
const authorization = signRequest(key, request);
const requestSignature = Buffer.from(authorization.match(/sig="([^"]+)"/)![1]!, "base64");
const incoming = { method: request.method, uri: request.uri, headers: { authorization } };
await verifier.verify(incoming); // fails loudly if the setup is wrong
report({
  name: "verifier.verify (key cached)",
  ...(await compare(
    () => verifier.verify(incoming),
    () => verify(null, requestBytes, key.publicKey, requestSignature),
  )),
  baselineName: "raw crypto.verify, same bytes",
  unit: "ops/cpu-s",
  target: 0.9,
});
finish();
