// ed25519 signing keys from 32-byte seeds, and Synapse's signing-key file format:
// one key per line, `<algorithm> <version> <unpadded base64 seed>`.
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { decodeBase64, encodeBase64 } from "./base64.js";
import { FederationError } from "./errors.js";

/** Key versions the spec allows: `[a-zA-Z0-9_]`. */
const KEY_VERSION = /^[A-Za-z0-9_]+$/;
/** PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
/** SPKI DER header of an Ed25519 public key; the 32-byte key follows it. */
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** A server's ed25519 signing key. */
export interface SigningKey {
  readonly algorithm: "ed25519";
  /** The version, e.g. `a_AbCd`. */
  readonly version: string;
  /** `ed25519:<version>`, as it appears in `signatures` and `verify_keys`. */
  readonly keyId: `ed25519:${string}`;
  /** The private key (never serialise it except through {@link formatSigningKey}). */
  readonly privateKey: KeyObject;
  /** The public key, ready for `crypto.verify`. */
  readonly publicKey: KeyObject;
  /** The public key as unpadded Base64, as published in `verify_keys`. */
  readonly publicKeyBase64: string;
}

function checkVersion(version: string, where: string): void {
  if (!KEY_VERSION.test(version)) {
    throw new FederationError(
      "bad_key_file",
      `${where}: a key version must match [A-Za-z0-9_]+, but received ${JSON.stringify(version)}`,
    );
  }
}

/** @internal The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  return publicKey.export({ format: "der", type: "spki" }).subarray(SPKI_ED25519_PREFIX.length);
}

/** @internal An Ed25519 public KeyObject from its raw 32 bytes, or undefined when the length is wrong. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject | undefined {
  if (raw.length !== 32) return undefined;
  return createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, raw]),
    format: "der",
    type: "spki",
  });
}

/**
 * Builds a {@link SigningKey} from a 32-byte ed25519 seed.
 *
 * @example
 * ```ts
 * const key = signingKeyFromSeed(crypto.randomBytes(32), "a_1");
 * key.keyId; // "ed25519:a_1"
 * ```
 */
export function signingKeyFromSeed(seed: Uint8Array, version: string): SigningKey {
  checkVersion(version, "signingKeyFromSeed");
  if (seed.length !== 32) {
    throw new FederationError(
      "bad_key_file",
      `An ed25519 seed is 32 bytes, but received ${seed.length}`,
    );
  }
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const publicKey = createPublicKey(privateKey);
  return {
    algorithm: "ed25519",
    version,
    keyId: `ed25519:${version}`,
    privateKey,
    publicKey,
    publicKeyBase64: encodeBase64(rawPublicKey(publicKey)),
  };
}

/**
 * Reads a signing-key file in Synapse's format (`ed25519 a_AbCd <unpadded base64 seed>`, one
 * key per line; blank lines are skipped) and returns its first key. Errors are
 * {@link FederationError}s with reason `bad_key_file` naming the line.
 *
 * @example
 * ```ts
 * const key = parseSigningKey("ed25519 a_AbCd YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n");
 * key.keyId; // "ed25519:a_AbCd"
 * ```
 */
export function parseSigningKey(text: string): SigningKey {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const where = `signing key file, line ${i + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 3) {
      throw new FederationError(
        "bad_key_file",
        `${where}: expected "<algorithm> <version> <base64 seed>", but found ${fields.length} field(s)`,
      );
    }
    const [algorithm, version, seedText] = fields as [string, string, string];
    if (algorithm !== "ed25519") {
      throw new FederationError(
        "bad_key_file",
        `${where}: only ed25519 keys are supported, but the algorithm is ${JSON.stringify(algorithm.slice(0, 40))}`,
      );
    }
    checkVersion(version, where);
    const seed = decodeBase64(seedText);
    if (seed === undefined || seed.length !== 32) {
      throw new FederationError(
        "bad_key_file",
        `${where}: the seed must be the Base64 of 32 bytes` +
          (seed === undefined ? ", but it is not Base64" : `, but it decodes to ${seed.length}`),
      );
    }
    return signingKeyFromSeed(seed, version);
  }
  throw new FederationError("bad_key_file", "signing key file: no key found (the file is empty)");
}

/**
 * Reads {@link parseSigningKey}'s format from a file.
 *
 * @example
 * ```ts
 * const key = await loadSigningKey("/data/example.org.signing.key");
 * ```
 */
export async function loadSigningKey(path: string): Promise<SigningKey> {
  const text = await readFile(path, "utf8");
  try {
    return parseSigningKey(text);
  } catch (err) {
    if (FederationError.is(err)) {
      throw new FederationError(err.reason, `${path}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Generates a fresh signing key. Without `version`, a Synapse-style `a_` plus four random
 * characters.
 *
 * @example
 * ```ts
 * const key = generateSigningKey();
 * await writeFile("signing.key", formatSigningKey(key), { mode: 0o600 });
 * ```
 */
export function generateSigningKey(version?: string): SigningKey {
  const chosen = version ?? `a_${randomBytes(3).toString("base64").replace(/[+/]/g, "_")}`;
  return signingKeyFromSeed(randomBytes(32), chosen);
}

/**
 * Writes a key in Synapse's signing-key file format (one line, with a final newline), so the
 * same file can be given to Synapse.
 *
 * @example
 * ```ts
 * formatSigningKey(key); // "ed25519 a_AbCd YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n"
 * ```
 */
export function formatSigningKey(key: SigningKey): string {
  const seed = key.privateKey
    .export({ format: "der", type: "pkcs8" })
    .subarray(PKCS8_ED25519_PREFIX.length);
  return `${key.algorithm} ${key.version} ${encodeBase64(seed)}\n`;
}
