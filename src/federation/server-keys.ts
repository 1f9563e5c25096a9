// Fetching remote servers' signing keys: the store first, then the origin's own
// `/_matrix/key/v2/server`, then trusted notaries' `/_matrix/key/v2/query/{serverName}`.
// Every answer is verified before anything is stored.
import { ConfigError } from "../errors.js";
import { createSingleFlight } from "../internal/single-flight.js";
import type { RepositoryLogger } from "../repository/types.js";
import { FederationError, integerOption } from "./errors.js";
import { checkSignedBy, verifyServerKeys } from "./key-response.js";
import type { KeyStore, StoredKey } from "./key-store.js";

/**
 * Fetches a JSON body from a Matrix server by server name (resolution, TLS and size limits
 * are its job), e.g. the federation client's `fetchJson`.
 */
export type FetchJson = (
  destination: string,
  path: string,
  options: { signal?: AbortSignal },
) => Promise<unknown>;

/** A trusted key server (notary) and the keys it signs with. */
export interface NotaryServer {
  /** Its server name, e.g. `matrix.org`. */
  serverName: string;
  /** Its keys: key ID → unpadded Base64 public key. */
  verifyKeys: Record<string, string>;
}

/** Options of {@link createKeyFetcher}. */
export interface KeyFetcherOptions {
  /** Our server name: a notary is never asked about itself or about us. */
  serverName: string;
  /** Where verified keys are kept (shared by every process with {@link cacheKeyStore}). */
  store: KeyStore;
  /** How to GET JSON from another server. */
  fetchJson: FetchJson;
  /** Key servers asked, in order, when the origin does not answer with the key. @defaultValue none */
  notaries?: NotaryServer[];
  /** The clock. @defaultValue `Date.now` */
  now?: () => number;
  /**
   * A stored key expiring sooner than this is refreshed ahead of time (still used if the
   * refresh fails). @defaultValue 0
   */
  minimumValidityMs?: number;
  /** After a fetch that did not yield the key, how long to answer "unknown" without fetching again. @defaultValue 30_000 */
  negativeCacheMs?: number;
  /** Deadline of each HTTP request. @defaultValue 10_000 */
  timeoutMs?: number;
  /** Most keys one response may hold. @defaultValue 32 */
  maxKeys?: number;
  /** Where refused responses and unreachable servers are reported. @defaultValue none */
  logger?: Pick<RepositoryLogger, "warn">;
}

/** Options of {@link KeyFetcher.getKey}. */
export interface GetKeyOptions {
  /** The instant the key must be valid at (ms since the epoch). @defaultValue now */
  atTs?: number;
}

/** What {@link createKeyFetcher} returns. */
export interface KeyFetcher {
  /** A verified key of `origin` valid at `atTs`, or `undefined` when none can be found. */
  getKey(origin: string, keyId: string, options?: GetKeyOptions): Promise<StoredKey | undefined>;
}

/** Defaults of {@link KeyFetcherOptions}. */
export const DEFAULT_KEY_FETCHER_OPTIONS = {
  minimumValidityMs: 0,
  negativeCacheMs: 30_000,
  timeoutMs: 10_000,
  maxKeys: 32,
} as const;

/**
 * @internal A loose server-name check (the characters of hostnames, IP literals and ports),
 * so that garbage never becomes an outgoing request.
 */
export const SERVER_NAME = /^[A-Za-z0-9.\-:[\]]{1,255}$/;
const MAX_NOTARY_ENTRIES = 16;
const MAX_NEGATIVE_ENTRIES = 10_000;

/** @internal True when `key` may be used for something happening at `at`. */
export function usableAt(key: StoredKey, at: number): boolean {
  return at <= key.validUntilTs && (key.expiredTs === undefined || at < key.expiredTs);
}

function checkOptions(options: KeyFetcherOptions) {
  for (const name of ["store", "fetchJson"] as const) {
    if (options[name] === undefined) {
      throw new ConfigError(`createKeyFetcher needs ${name}`, { option: name });
    }
  }
  if (typeof options.serverName !== "string" || !SERVER_NAME.test(options.serverName)) {
    throw new ConfigError(
      `Expected a server name for serverName but received ${String(options.serverName)}`,
      {
        option: "serverName",
      },
    );
  }
  const notaries = options.notaries ?? [];
  notaries.forEach((notary, i) => {
    if (
      !SERVER_NAME.test(notary?.serverName ?? "") ||
      Object.keys(notary.verifyKeys ?? {}).length === 0
    ) {
      throw new ConfigError(
        `notaries[${i}] needs a serverName and at least one of its verifyKeys`,
        {
          option: `notaries[${i}]`,
        },
      );
    }
  });
  const d = DEFAULT_KEY_FETCHER_OPTIONS;
  return {
    notaries,
    minimumValidityMs: integerOption(
      options.minimumValidityMs ?? d.minimumValidityMs,
      "minimumValidityMs",
      0,
    ),
    negativeCacheMs: integerOption(
      options.negativeCacheMs ?? d.negativeCacheMs,
      "negativeCacheMs",
      0,
    ),
    timeoutMs: integerOption(options.timeoutMs ?? d.timeoutMs, "timeoutMs", 1),
    maxKeys: integerOption(options.maxKeys ?? d.maxKeys, "maxKeys", 1),
  };
}

/**
 * Finds and verifies remote servers' signing keys. `getKey` reads the store; on a miss (or a
 * key no longer valid at `atTs`) it asks the origin's `GET /_matrix/key/v2/server` and
 * accepts the answer only if `server_name` is the origin and the origin signed it with its
 * own `verify_keys`; failing that, each notary's `GET /_matrix/key/v2/query/{serverName}`,
 * whose entries must carry both the origin's self-signature and the notary's signature.
 * Keys are used only while valid (`valid_until_ts`, at most 7 days ahead; `expired_ts` for
 * old keys). Concurrent misses for one origin share one fetch; a fetch that did not yield
 * the key is remembered for `negativeCacheMs`, so an unknown key costs one fetch, not one
 * per request.
 *
 * @example
 * ```ts
 * const keys = createKeyFetcher({
 *   serverName: "media.example.org",
 *   store: memoryKeyStore({ maxServers: 10_000 }),
 *   fetchJson: federationClient.fetchJson,
 *   notaries: [{ serverName: "matrix.org", verifyKeys: { "ed25519:auto": "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw" } }],
 * });
 * const key = await keys.getKey("remote.example", "ed25519:a_AbCd");
 * ```
 */
export function createKeyFetcher(options: KeyFetcherOptions): KeyFetcher {
  const config = checkOptions(options);
  const { store, fetchJson, logger } = options;
  const now = options.now ?? Date.now;
  const flights = createSingleFlight<StoredKey[]>();
  const negative = new Map<string, number>();

  const request = (destination: string, path: string) =>
    fetchJson(destination, path, { signal: AbortSignal.timeout(config.timeoutMs) });

  const fromOrigin = async (origin: string): Promise<StoredKey[]> => {
    const body = await request(origin, "/_matrix/key/v2/server");
    return verifyServerKeys(body, origin, { now: now(), maxKeys: config.maxKeys }).keys;
  };

  const fromNotary = async (notary: NotaryServer, origin: string): Promise<StoredKey[]> => {
    const body = await request(
      notary.serverName,
      `/_matrix/key/v2/query/${encodeURIComponent(origin)}`,
    );
    const entries = (body as { server_keys?: unknown } | null)?.server_keys;
    if (!Array.isArray(entries) || entries.length > MAX_NOTARY_ENTRIES) {
      throw new FederationError(
        "bad_key_response",
        `Notary ${notary.serverName}: server_keys must be a short array`,
      );
    }
    const notaryKeys = new Map(Object.entries(notary.verifyKeys));
    const keys: StoredKey[] = [];
    for (const entry of entries) {
      const verified = verifyServerKeys(entry, origin, { now: now(), maxKeys: config.maxKeys });
      checkSignedBy(
        entry as Record<string, unknown>,
        notary.serverName,
        notaryKeys,
        `Notary ${notary.serverName}'s answer for ${origin}`,
      );
      keys.push(...verified.keys);
    }
    return keys;
  };

  const attempt = async (source: string, origin: string, task: () => Promise<StoredKey[]>) => {
    try {
      return await task();
    } catch (err) {
      logger?.warn("federation: key fetch refused", {
        origin,
        source,
        reason: FederationError.is(err) ? err.reason : "unreachable",
        error: err instanceof Error ? err.message : String(err),
      });
      return [];
    }
  };

  const fetchKeys = async (origin: string, keyId: string, at: number): Promise<StoredKey[]> => {
    const found = await attempt(origin, origin, () => fromOrigin(origin));
    for (const notary of config.notaries) {
      if (found.some((k) => k.keyId === keyId && usableAt(k, at))) break;
      if (notary.serverName === origin || origin === options.serverName) continue;
      found.push(...(await attempt(notary.serverName, origin, () => fromNotary(notary, origin))));
    }
    // Several sources may know a key: keep the longest-lived copy of each.
    const best = new Map<string, StoredKey>();
    for (const key of found) {
      const seen = best.get(key.keyId);
      if (seen === undefined || key.validUntilTs > seen.validUntilTs) best.set(key.keyId, key);
    }
    const keys = [...best.values()];
    if (keys.length > 0) {
      await store
        .put(origin, keys)
        .catch((err: unknown) =>
          logger?.warn("federation: key store write failed", { origin, error: String(err) }),
        );
    }
    return keys;
  };

  return {
    async getKey(origin, keyId, getOptions = {}) {
      if (!SERVER_NAME.test(origin)) return undefined;
      const at = getOptions.atTs ?? now();
      const stored = await store.get(origin, keyId).catch(() => undefined);
      const usable = stored !== undefined && usableAt(stored, at);
      // An old key cannot be refreshed into a longer life; a current one can.
      if (
        usable &&
        (stored.expiredTs !== undefined || stored.validUntilTs >= at + config.minimumValidityMs)
      ) {
        return stored;
      }
      const negativeKey = `${origin}/${keyId}`;
      const until = negative.get(negativeKey);
      if (until !== undefined && until > now()) return usable ? stored : undefined;
      const keys = await flights.run(origin, () => fetchKeys(origin, keyId, at));
      const fetched = keys.find((k) => k.keyId === keyId && usableAt(k, at));
      if (fetched !== undefined && fetched.validUntilTs >= at + config.minimumValidityMs) {
        negative.delete(negativeKey);
        return fetched;
      }
      negative.delete(negativeKey);
      negative.set(negativeKey, now() + config.negativeCacheMs);
      if (negative.size > MAX_NEGATIVE_ENTRIES) negative.delete(negative.keys().next().value!);
      return fetched ?? (usable ? stored : undefined);
    },
  };
}
