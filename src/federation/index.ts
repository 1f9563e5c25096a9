/**
 * Matrix server-server authentication: Canonical JSON, ed25519 signing keys (Synapse's key
 * file format), signed JSON, the X-Matrix `Authorization` scheme, remote key fetching with
 * notaries and shared key stores, and the verifier of incoming federation requests.
 * Only `node:crypto` is used: importing this module loads no other dependency.
 *
 * @example
 * ```ts
 * import {
 *   createKeyFetcher,
 *   createRequestVerifier,
 *   loadSigningKey,
 *   memoryKeyStore,
 *   signRequest,
 * } from "matrix-media-kit/federation";
 *
 * const key = await loadSigningKey("/data/media.example.org.signing.key");
 * const authorization = signRequest(key, {
 *   method: "GET",
 *   uri: "/_matrix/federation/v1/media/download/abc",
 *   origin: "media.example.org",
 *   destination: "remote.example",
 * });
 *
 * const keys = createKeyFetcher({
 *   serverName: "media.example.org",
 *   store: memoryKeyStore({ maxServers: 10_000 }),
 *   fetchJson,
 * });
 * const verifier = createRequestVerifier({ serverNames: ["media.example.org"], keys });
 * ```
 *
 * @module
 */
export { decodeBase64, encodeBase64 } from "./base64.js";
export { canonicalJson } from "./canonical-json.js";
export { FederationError, type FederationErrorReason } from "./errors.js";
export {
  serverKeyResponse,
  verifyServerKeys,
  type OldVerifyKey,
  type ServerKeyResponseOptions,
  type VerifiedServerKeys,
  type VerifyServerKeysOptions,
} from "./key-response.js";
export {
  cacheKeyStore,
  memoryKeyStore,
  type CacheKeyStoreOptions,
  type KeyStore,
  type MemoryKeyStoreOptions,
  type StoredKey,
} from "./key-store.js";
export {
  createKeyFetcher,
  DEFAULT_KEY_FETCHER_OPTIONS,
  type FetchJson,
  type GetKeyOptions,
  type KeyFetcher,
  type KeyFetcherOptions,
  type NotaryServer,
} from "./server-keys.js";
export { signJson, verifyJsonSignature, type Signatures } from "./signatures.js";
export {
  formatSigningKey,
  generateSigningKey,
  loadSigningKey,
  parseSigningKey,
  signingKeyFromSeed,
  type SigningKey,
} from "./signing-key.js";
export {
  createRequestVerifier,
  type IncomingFederationRequest,
  type KeyLookup,
  type RequestVerifier,
  type RequestVerifierOptions,
  type VerifiedOrigin,
} from "./verifier.js";
export {
  formatXMatrix,
  parseAuthorizationHeaders,
  parseXMatrix,
  signRequest,
  type FederationRequest,
  type XMatrixAuth,
} from "./x-matrix.js";
export * from "./transport-exports.js";
export type {
  Resolver,
  ResolvedAddress,
  SafeFetch,
  SafeFetchInit,
  SafeFetchOptions,
  SafeResponse,
} from "../preview/safe-fetch-options.js";
export type { MediaCache, CacheSetOptions } from "../cache/types.js";
export type { RepositoryLogger } from "../repository/types.js";
export { DEFAULT_FEDERATION_OPTIONS, createFederation } from "./federation.js";
export type { Federation, FederationOptions } from "./federation.js";
export type {
  RemoteMedia,
  RemoteMediaSource,
  RemoteDownloadOptions,
} from "../repository/remote-types.js";
