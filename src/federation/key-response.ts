// The body of `GET /_matrix/key/v2/server`: producing ours, and checking a remote one
// strictly (its types, its size, its server name and its self-signature).
import { decodeBase64 } from "./base64.js";
import { FederationError } from "./errors.js";
import type { StoredKey } from "./key-store.js";
import { signedBytes, signJson, verifySignature } from "./signatures.js";
import type { SigningKey } from "./signing-key.js";

/** A key we used before, published in `old_verify_keys`. */
export interface OldVerifyKey {
  /** `ed25519:<version>`. */
  keyId: string;
  /** Unpadded Base64 public key. */
  publicKey: string;
  /** When we stopped using it (ms since the epoch). */
  expiredTs: number;
}

/** Options of {@link serverKeyResponse}. */
export interface ServerKeyResponseOptions {
  /** Our server name. */
  serverName: string;
  /** Until when others may cache the key (ms since the epoch). */
  validUntilTs: number;
  /** Keys we no longer use. @defaultValue none */
  oldKeys?: OldVerifyKey[];
}

/**
 * The signed JSON body to serve at `GET /_matrix/key/v2/server`.
 *
 * @example
 * ```ts
 * const body = serverKeyResponse(key, {
 *   serverName: "media.example.org",
 *   validUntilTs: Date.now() + 24 * 3600_000,
 * });
 * res.end(JSON.stringify(body));
 * ```
 */
export function serverKeyResponse(
  key: SigningKey,
  options: ServerKeyResponseOptions,
): Record<string, unknown> {
  const oldVerifyKeys: Record<string, { key: string; expired_ts: number }> = {};
  for (const old of options.oldKeys ?? []) {
    oldVerifyKeys[old.keyId] = { key: old.publicKey, expired_ts: old.expiredTs };
  }
  return signJson(
    {
      server_name: options.serverName,
      verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } },
      old_verify_keys: oldVerifyKeys,
      valid_until_ts: options.validUntilTs,
    },
    options.serverName,
    key,
  );
}

/** What {@link verifyServerKeys} found in a valid response. */
export interface VerifiedServerKeys {
  /** Current keys (validity capped at 7 days after `now`) and old ones (valid until `expired_ts`). */
  keys: StoredKey[];
  /** The response's `valid_until_ts`, as sent. */
  validUntilTs: number;
}

/** Options of {@link verifyServerKeys}. */
export interface VerifyServerKeysOptions {
  /** The time of the fetch (ms since the epoch). @defaultValue `Date.now()` */
  now?: number;
  /** Most keys (current plus old) a response may hold. @defaultValue 32 */
  maxKeys?: number;
}

/** The spec caps how far ahead a key may be trusted, whatever valid_until_ts says. */
const MAX_VALIDITY_MS = 7 * 24 * 3600_000;
const KEY_ID = /^[a-z0-9]+:[A-Za-z0-9_]{1,128}$/;

const refuse = (origin: string, message: string) =>
  new FederationError("bad_key_response", `Key response of ${origin}: ${message}`);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function timestamp(value: unknown, origin: string, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw refuse(origin, `${field} must be a non-negative integer`);
  }
  return value;
}

function readKeys(
  section: unknown,
  origin: string,
  field: string,
  budget: { left: number },
): Array<{ keyId: string; publicKey: string; expiredTs?: number }> {
  if (section === undefined && field === "old_verify_keys") return [];
  if (!isObject(section)) throw refuse(origin, `${field} must be an object`);
  const out: Array<{ keyId: string; publicKey: string; expiredTs?: number }> = [];
  for (const [keyId, entry] of Object.entries(section)) {
    if (--budget.left < 0) throw refuse(origin, "too many keys");
    if (!KEY_ID.test(keyId)) throw refuse(origin, `${field} has a malformed key ID`);
    if (!isObject(entry) || typeof entry.key !== "string" || entry.key.length > 64) {
      throw refuse(origin, `${field}.${keyId}.key must be a Base64 string`);
    }
    const expiredTs =
      field === "old_verify_keys"
        ? timestamp(entry.expired_ts, origin, `${field}.${keyId}.expired_ts`)
        : undefined;
    // Only ed25519 is defined; keys of other algorithms are ignored, not refused.
    if (!keyId.startsWith("ed25519:")) continue;
    const raw = decodeBase64(entry.key);
    if (raw === undefined || raw.length !== 32) {
      throw refuse(origin, `${field}.${keyId}.key is not a 32-byte ed25519 key`);
    }
    out.push({ keyId, publicKey: entry.key, ...(expiredTs === undefined ? {} : { expiredTs }) });
  }
  return out;
}

/**
 * @internal Checks that `signer` signed `response` with one of `keys` (key ID → Base64): every
 * signature by a listed key must verify, and at least one must be present.
 */
export function checkSignedBy(
  response: Record<string, unknown>,
  signer: string,
  keys: ReadonlyMap<string, string>,
  what: string,
): void {
  const signatures = response.signatures;
  const bySigner = isObject(signatures) ? signatures[signer] : undefined;
  if (!isObject(bySigner)) {
    throw new FederationError("bad_signature", `${what} carries no signature of ${signer}`);
  }
  let bytes: Buffer;
  try {
    bytes = signedBytes(response);
  } catch (err) {
    throw new FederationError("bad_key_response", `${what} is not Canonical JSON`, { cause: err });
  }
  let verified = 0;
  for (const [keyId, signature] of Object.entries(bySigner)) {
    const publicKey = keys.get(keyId);
    if (publicKey === undefined) continue;
    if (typeof signature !== "string" || !verifySignature(bytes, signature, publicKey)) {
      throw new FederationError(
        "bad_signature",
        `${what}: the signature of ${signer} with ${keyId} is invalid`,
      );
    }
    verified++;
  }
  if (verified === 0) {
    throw new FederationError("bad_signature", `${what} is not signed by a known key of ${signer}`);
  }
}

/**
 * Checks a `GET /_matrix/key/v2/server` body (from the origin itself or relayed by a notary)
 * strictly: every field has the spec's type, at most `maxKeys` keys, `server_name` equals
 * `origin` (a key server answering for another name is refused), and the body is signed by
 * the origin with its own `verify_keys`. Throws a {@link FederationError}.
 *
 * A key is returned even when `valid_until_ts` has passed; callers only use keys valid at
 * the time they need (see {@link StoredKey}).
 *
 * @example
 * ```ts
 * const { keys } = verifyServerKeys(await response.json(), "remote.example");
 * ```
 */
export function verifyServerKeys(
  response: unknown,
  origin: string,
  options: VerifyServerKeysOptions = {},
): VerifiedServerKeys {
  if (!isObject(response)) throw refuse(origin, "not a JSON object");
  if (response.server_name !== origin) {
    throw new FederationError(
      "wrong_server_name",
      `Key response for ${origin} names server ${JSON.stringify(String(response.server_name).slice(0, 255))}`,
    );
  }
  const now = options.now ?? Date.now();
  const validUntilTs = timestamp(response.valid_until_ts, origin, "valid_until_ts");
  const budget = { left: options.maxKeys ?? 32 };
  const current = readKeys(response.verify_keys, origin, "verify_keys", budget);
  const old = readKeys(response.old_verify_keys, origin, "old_verify_keys", budget);
  checkSignedBy(
    response,
    origin,
    new Map(current.map((k) => [k.keyId, k.publicKey])),
    `Key response of ${origin}`,
  );
  const cap = Math.min(validUntilTs, now + MAX_VALIDITY_MS);
  const keys: StoredKey[] = [
    ...old.map((k) => ({
      keyId: k.keyId,
      publicKey: k.publicKey,
      validUntilTs: k.expiredTs!,
      expiredTs: k.expiredTs!,
    })),
    ...current.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey, validUntilTs: cap })),
  ];
  return { keys, validUntilTs };
}
