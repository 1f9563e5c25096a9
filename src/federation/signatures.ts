// Signing JSON objects (spec appendix "Signing JSON"): the signature covers the Canonical JSON
// of the object without `signatures` and `unsigned`, and is added under
// signatures[serverName][keyId] as unpadded Base64.
import { sign, verify, type KeyObject } from "node:crypto";
import { decodeBase64, encodeBase64 } from "./base64.js";
import { canonicalJson } from "./canonical-json.js";
import { publicKeyFromRaw, type SigningKey } from "./signing-key.js";

/** The `signatures` object of signed JSON: server name → key ID → unpadded base64 signature. */
export type Signatures = Record<string, Record<string, string>>;

/** @internal The bytes a signature covers: Canonical JSON without `signatures` and `unsigned`. */
export function signedBytes(object: Record<string, unknown>): Buffer {
  if (!("signatures" in object) && !("unsigned" in object)) {
    return Buffer.from(canonicalJson(object), "utf8");
  }
  const { signatures: _signatures, unsigned: _unsigned, ...rest } = object;
  return Buffer.from(canonicalJson(rest), "utf8");
}

// Public keys arrive as Base64 strings; parsing one into a KeyObject costs about as much as a
// verification, so the last few hundred are kept.
const MAX_CACHED_KEYS = 512;
const publicKeys = new Map<string, KeyObject | null>();

/** @internal The KeyObject of an unpadded-Base64 Ed25519 public key, or undefined when invalid. */
export function publicKeyFromBase64(base64: string): KeyObject | undefined {
  const cached = publicKeys.get(base64);
  if (cached !== undefined) return cached ?? undefined;
  const raw = decodeBase64(base64);
  const key = raw === undefined ? undefined : publicKeyFromRaw(raw);
  if (publicKeys.size >= MAX_CACHED_KEYS) {
    publicKeys.delete(publicKeys.keys().next().value!);
  }
  publicKeys.set(base64, key ?? null);
  return key;
}

/**
 * Signs `object` with `key` on behalf of `serverName` and returns a copy with the signature
 * added to any existing `signatures` (the `unsigned` section is kept but not signed).
 *
 * @example
 * ```ts
 * const signed = signJson({ server_name: "example.org" }, "example.org", key);
 * signed.signatures["example.org"]["ed25519:a_AbCd"]; // unpadded Base64
 * ```
 */
export function signJson<T extends Record<string, unknown>>(
  object: T,
  serverName: string,
  key: SigningKey,
): T & { signatures: Signatures } {
  const signature = encodeBase64(sign(null, signedBytes(object), key.privateKey));
  const existing = object.signatures as Signatures | undefined;
  const signatures: Signatures =
    existing === undefined
      ? { [serverName]: { [key.keyId]: signature } }
      : { ...existing, [serverName]: { ...existing[serverName], [key.keyId]: signature } };
  return { ...object, signatures };
}

/**
 * Checks the signature of `serverName` with `keyId` on `object` against a public key (unpadded
 * Base64, as in `verify_keys`, or a KeyObject). False when the signature is absent, malformed
 * or wrong, or when the public key is not an Ed25519 key.
 *
 * @example
 * ```ts
 * verifyJsonSignature(signed, "example.org", "ed25519:a_AbCd", key.publicKeyBase64); // true
 * ```
 */
export function verifyJsonSignature(
  object: Record<string, unknown>,
  serverName: string,
  keyId: string,
  publicKey: string | KeyObject,
): boolean {
  const signatures = object.signatures as Record<string, unknown> | undefined;
  if (typeof signatures !== "object" || signatures === null) return false;
  const byServer = signatures[serverName] as Record<string, unknown> | undefined;
  if (typeof byServer !== "object" || byServer === null) return false;
  const signature = byServer[keyId];
  if (typeof signature !== "string") return false;
  return verifySignature(signedBytes(object), signature, publicKey);
}

/** @internal Verifies a Base64 Ed25519 signature over `bytes`. */
export function verifySignature(
  bytes: Uint8Array,
  signatureBase64: string,
  publicKey: string | KeyObject,
): boolean {
  const keyObject = typeof publicKey === "string" ? publicKeyFromBase64(publicKey) : publicKey;
  if (keyObject === undefined) return false;
  const signature = decodeBase64(signatureBase64);
  if (signature === undefined || signature.length !== 64) return false;
  try {
    return verify(null, bytes, keyObject, signature);
  } catch {
    return false; // not an Ed25519 key
  }
}
