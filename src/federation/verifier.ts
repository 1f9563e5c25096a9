// Authenticating incoming server-server requests: the X-Matrix credential's signature over
// {method, uri, origin, destination, content} must verify with a key of the origin that is
// valid now, and the destination must be one of our names.
import { ConfigError, MediaError } from "../errors.js";
import { canonicalJson } from "./canonical-json.js";
import { FederationError } from "./errors.js";
import type { StoredKey } from "./key-store.js";
import { SERVER_NAME, type GetKeyOptions } from "./server-keys.js";
import { verifySignature } from "./signatures.js";
import { parseAuthorizationHeaders, requestJson, type XMatrixAuth } from "./x-matrix.js";

/** Anything with {@link KeyFetcher.getKey}'s shape. */
export interface KeyLookup {
  getKey(origin: string, keyId: string, options?: GetKeyOptions): Promise<StoredKey | undefined>;
}

/** Options of {@link createRequestVerifier}. */
export interface RequestVerifierOptions {
  /** Our server names: the destinations we accept. */
  serverNames: string[];
  /** Where the origins' keys come from (a {@link KeyFetcher}). */
  keys: KeyLookup;
  /** The clock keys must be valid at. @defaultValue `Date.now` */
  now?: () => number;
}

/** An incoming request, as needed to check its signature. */
export interface IncomingFederationRequest {
  /** The HTTP method, as received. */
  method: string;
  /** The path and query exactly as received (Node's `req.url`). */
  uri: string;
  /** `authorization`: pass `req.headersDistinct.authorization` to see every header. */
  headers: { authorization?: string | string[] | undefined };
  /** The parsed JSON body, when the request has one. */
  content?: unknown;
}

/** Who sent an authenticated request. */
export interface VerifiedOrigin {
  /** The sending server's name. */
  origin: string;
  /** The key that signed the request. */
  keyId: string;
}

/** What {@link createRequestVerifier} returns. */
export interface RequestVerifier {
  /** Resolves with the origin, or rejects with a `401 M_UNAUTHORIZED` {@link MediaError}. */
  verify(request: IncomingFederationRequest): Promise<VerifiedOrigin>;
}

const KEY_ID = /^ed25519:[A-Za-z0-9_]{1,128}$/;

const unauthorized = (message: string, cause?: unknown) =>
  new MediaError("M_UNAUTHORIZED", message, { status: 401, cause });

/**
 * Authenticates server-server requests (spec "Request Authentication"). Every refusal is a
 * `401 M_UNAUTHORIZED` {@link MediaError}, as Synapse answers: a missing or malformed
 * `Authorization`, an unknown key or one no longer valid, a bad signature, or a
 * `destination` that is not one of `serverNames`. A credential without `destination` (older
 * servers) is accepted when it verifies for one of `serverNames`. With several X-Matrix
 * credentials, all must name the same origin and one must verify.
 *
 * X-Matrix carries no nonce and no timestamp: an identical GET replayed is
 * indistinguishable from a retry. Any change of method, URI, origin, destination or content
 * fails the signature.
 *
 * @example
 * ```ts
 * const verifier = createRequestVerifier({ serverNames: ["media.example.org"], keys });
 * const { origin } = await verifier.verify({
 *   method: req.method!,
 *   uri: req.url!,
 *   headers: { authorization: req.headersDistinct.authorization },
 * });
 * ```
 */
export function createRequestVerifier(options: RequestVerifierOptions): RequestVerifier {
  const serverNames = options?.serverNames;
  if (
    !Array.isArray(serverNames) ||
    serverNames.length === 0 ||
    !serverNames.every((n) => SERVER_NAME.test(n))
  ) {
    throw new ConfigError(
      `Expected a non-empty list of server names for serverNames but received ${String(serverNames)}`,
      {
        option: "serverNames",
      },
    );
  }
  if (typeof options.keys?.getKey !== "function") {
    throw new ConfigError("createRequestVerifier needs keys (a key fetcher)", { option: "keys" });
  }
  const ours = new Set(serverNames);
  const now = options.now ?? Date.now;

  const check = async (
    auth: XMatrixAuth,
    request: IncomingFederationRequest,
  ): Promise<string | undefined> => {
    if (auth.destination !== undefined && !ours.has(auth.destination)) {
      return `the request is for ${auth.destination.slice(0, 255)}, not this server`;
    }
    if (!KEY_ID.test(auth.keyId)) return "unsupported key ID";
    const key = await options.keys.getKey(auth.origin, auth.keyId, { atTs: now() });
    if (key === undefined) return `no valid key ${auth.keyId} of ${auth.origin}`;
    const destinations = auth.destination === undefined ? serverNames : [auth.destination];
    for (const destination of destinations) {
      let bytes: Buffer;
      try {
        const json = requestJson({
          method: request.method,
          uri: request.uri,
          origin: auth.origin,
          destination,
          content: request.content,
        });
        bytes = Buffer.from(canonicalJson(json), "utf8");
      } catch {
        return "the request body is not Canonical JSON";
      }
      if (verifySignature(bytes, auth.signature, key.publicKey)) return undefined;
    }
    return "invalid signature";
  };

  return {
    async verify(request) {
      let credentials: XMatrixAuth[];
      try {
        credentials = parseAuthorizationHeaders(request.headers.authorization);
      } catch (err) {
        throw unauthorized(
          FederationError.is(err) ? err.message : "Malformed Authorization header",
          err,
        );
      }
      if (credentials.length === 0) throw unauthorized("Missing X-Matrix Authorization header");
      const origin = credentials[0]!.origin;
      if (!SERVER_NAME.test(origin))
        throw unauthorized("X-Matrix: the origin is not a server name");
      if (credentials.some((c) => c.origin !== origin)) {
        throw unauthorized("X-Matrix credentials name different origins");
      }
      let failure = "";
      for (const auth of credentials) {
        const reason = await check(auth, request);
        if (reason === undefined) return { origin, keyId: auth.keyId };
        failure = reason;
      }
      throw unauthorized(`X-Matrix: ${failure}`);
    },
  };
}
