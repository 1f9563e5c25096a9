// One call that wires the federation primitives together for a media server: a signed client,
// a key fetcher that uses it, the verifier of inbound requests, our key response, and the
// repository's remote media source.
import type { IncomingMessage } from "node:http";
import type { RemoteMediaSource } from "../repository/remote-types.js";
import type { RepositoryLogger } from "../repository/types.js";
import { createFederationClient } from "./client.js";
import type { FederationClient, FederationClientOptions } from "./client.js";
import { integerOption } from "./errors.js";
import { serverKeyResponse } from "./key-response.js";
import { memoryKeyStore, type KeyStore } from "./key-store.js";
import { createKeyFetcher, type KeyFetcher, type NotaryServer } from "./server-keys.js";
import type { SigningKey } from "./signing-key.js";
import { createRequestVerifier, type RequestVerifier } from "./verifier.js";
import { signRequest } from "./x-matrix.js";

/** Defaults of {@link FederationOptions}. */
export const DEFAULT_FEDERATION_OPTIONS = Object.freeze({
  /** How long others may cache our key (`valid_until_ts` = now + this). @defaultValue 1 day */
  keyValidityMs: 24 * 60 * 60 * 1000,
  /** Servers whose keys {@link memoryKeyStore} keeps when no `keyStore` is given. @defaultValue 10000 */
  maxKeyServers: 10_000,
  /** @defaultValue false */
  legacyFallback: false,
});

/** Options of {@link createFederation}. */
export interface FederationOptions {
  /** Our server name: the `origin` of our requests and the first accepted `destination`. */
  serverName: string;
  /** Every name accepted as `destination` of inbound requests. @defaultValue `[serverName]` */
  serverNames?: readonly string[];
  /** The key we sign with (`loadSigningKey`); the homeserver of `serverName` must publish it. */
  signingKey: SigningKey;
  /** Where other servers' keys are kept. @defaultValue `memoryKeyStore({ maxServers: 10000 })` */
  keyStore?: KeyStore;
  /** Notaries asked when a server cannot be reached for its own keys. @defaultValue none */
  trustedKeyServers?: NotaryServer[];
  /** Try the legacy unauthenticated download on "unrecognised endpoint". @defaultValue false */
  legacyFallback?: boolean;
  /** `valid_until_ts` of our key response, from now, ms. @defaultValue 86400000 */
  keyValidityMs?: number;
  /** Options of the outbound client (SSRF allow list, CA, resolver, deadline, size cap). */
  client?: Omit<FederationClientOptions, "serverName" | "authorize">;
  now?: () => number;
  logger?: RepositoryLogger;
}

/** The federation side of a media server, built by {@link createFederation}. */
export interface Federation {
  readonly client: FederationClient;
  readonly keys: KeyFetcher;
  readonly verifier: RequestVerifier;
  /** For `createMediaRepository({ remote: { source } })`: downloads over federation. */
  readonly mediaSource: RemoteMediaSource;
  /** For `createMediaHandler({ authenticateServer })`: the verified origin of a request. */
  authenticateServer(req: IncomingMessage): Promise<string | undefined>;
  /** The signed body of `GET /_matrix/key/v2/server` for our key. */
  serverKeys(): Record<string, unknown>;
  /** Closes the client's connections. */
  close(): Promise<void>;
}

/**
 * Wires the federation primitives for a media server: requests signed with `signingKey`
 * through the SSRF guard, other servers' keys fetched (directly or via notaries) and kept in
 * `keyStore`, inbound `X-Matrix` verification for the handler, and the remote media source
 * for the repository.
 *
 * @example
 * ```ts
 * import { createMediaRepository } from "matrix-media-kit";
 * import { createMediaHandler } from "matrix-media-kit/http";
 * import { createFederation, loadSigningKey } from "matrix-media-kit/federation";
 *
 * const federation = createFederation({
 *   serverName: "example.org",
 *   signingKey: await loadSigningKey("/etc/matrix/example.org.signing.key"),
 * });
 * const repo = createMediaRepository({ ...parts, remote: { source: federation.mediaSource } });
 * const handle = createMediaHandler(repo, {
 *   authenticate,
 *   authenticateServer: (req) => federation.authenticateServer(req),
 * });
 * ```
 */
export function createFederation(options: FederationOptions): Federation {
  const { serverName, signingKey } = options;
  const now = options.now ?? Date.now;
  const keyValidityMs = integerOption(
    options.keyValidityMs ?? DEFAULT_FEDERATION_OPTIONS.keyValidityMs,
    "keyValidityMs",
    1,
  );
  const legacyFallback = options.legacyFallback ?? DEFAULT_FEDERATION_OPTIONS.legacyFallback;
  const client = createFederationClient({
    ...options.client,
    serverName,
    authorize: (req) =>
      signRequest(signingKey, {
        method: req.method,
        uri: req.uri,
        origin: serverName,
        destination: req.destination,
      }),
  });
  const keys = createKeyFetcher({
    serverName,
    store:
      options.keyStore ?? memoryKeyStore({ maxServers: DEFAULT_FEDERATION_OPTIONS.maxKeyServers }),
    fetchJson: (destination, path, opts) => client.getJson(destination, path, opts),
    now,
    ...(options.trustedKeyServers && { notaries: options.trustedKeyServers }),
    ...(options.logger && { logger: options.logger }),
  });
  const verifier = createRequestVerifier({
    serverNames: [...(options.serverNames ?? [serverName])],
    keys,
    now,
  });
  return {
    client,
    keys,
    verifier,
    mediaSource: {
      download: (origin, mediaId, opts) =>
        client.downloadMedia(origin, mediaId, { ...opts, legacyFallback }),
    },
    async authenticateServer(req) {
      const { origin } = await verifier.verify({
        method: req.method ?? "GET",
        uri: req.url ?? "/",
        headers: { authorization: req.headersDistinct.authorization },
      });
      return origin;
    },
    serverKeys: () =>
      serverKeyResponse(signingKey, { serverName, validUntilTs: now() + keyValidityMs }),
    close: () => client.close(),
  };
}
