// The address check in undici's connect path: every resolved address is classified, and the
// socket dials exactly the address that was checked (an IP literal, so neither undici nor
// net resolves the name again).
import { channel } from "node:diagnostics_channel";
import net from "node:net";
import tls from "node:tls";
import { Agent, ProxyAgent, buildConnector } from "undici";
import type { Dispatcher } from "undici";
import { refuse } from "./safe-fetch-error.js";
import type { ResolvedAddress, SafeFetchSettings } from "./safe-fetch-options.js";

/** Diagnostics channel: `{ hostname, address, port, protocol }` just before a socket dials. */
export const SAFE_FETCH_DIAL_CHANNEL = "matrix-media-kit:safe-fetch:dial";
const dialChannel = channel(SAFE_FETCH_DIAL_CHANNEL);

const RETRYABLE_CONNECT = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Resolves with a deadline: a resolver that never answers must not wedge undici's slot. */
async function resolveWithin(
  settings: SafeFetchSettings,
  hostname: string,
): Promise<readonly ResolvedAddress[]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      settings.lookup(hostname),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error("lookup timed out")), settings.timeoutMs);
        timer.unref();
      }),
    ]);
  } catch (error) {
    throw refuse(hostname, "dns", error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves and checks a host; returns every address (all allowed), in resolver order.
 * @internal
 */
export async function checkedAddresses(
  settings: SafeFetchSettings,
  rawHostname: string,
): Promise<ResolvedAddress[]> {
  const hostname =
    rawHostname.startsWith("[") && rawHostname.endsWith("]")
      ? rawHostname.slice(1, -1)
      : rawHostname;
  const family = net.isIP(hostname);
  if (family !== 0) {
    if (!settings.policy.isAllowed(hostname)) throw refuse(hostname, "address-denied");
    return [{ address: hostname, family }];
  }
  const answers = await resolveWithin(settings, hostname);
  if (answers === null || typeof answers !== "object" || answers.length === 0)
    throw refuse(hostname, "dns");
  for (const answer of answers) {
    // A resolver answer that is not an IP literal would be resolved again by net: refuse it.
    if (net.isIP(answer.address) === 0 || !settings.policy.isAllowed(answer.address)) {
      throw refuse(hostname, "address-denied");
    }
  }
  return answers.map(({ address, family: f }) => ({ address, family: f }));
}

const refuseLookup = (
  hostname: string,
  _options: unknown,
  callback: (error: Error | null, address: string, family: number) => void,
): void => {
  callback(refuse(hostname, "address-denied"), "", 0);
};

/**
 * Where a call's first hop dials instead of its URL's authority (federation: an SRV target or
 * a delegated port). The URL's host stays the Host header; `tlsName` is the name the
 * certificate must match (SNI is derived from the URL by undici and omitted for IP literals).
 * @internal
 */
export interface ConnectTarget {
  host: string;
  port: number;
  tlsName: string;
}

/** Dials the checked addresses in order: all of them passed, so falling back is safe. */
function guardedConnector(
  settings: SafeFetchSettings,
  target?: ConnectTarget,
): buildConnector.connector {
  const dial = buildConnector({
    timeout: settings.timeoutMs,
    // Defence in depth: sockets only ever get IP literals, so net must never need this.
    lookup: refuseLookup as unknown as net.LookupFunction,
    ...(settings.tls ?? {}),
    // With a connect target the dialled address is not the URL's host: check the URL's name.
    ...(target === undefined
      ? {}
      : {
          checkServerIdentity: (_host: string, cert: tls.PeerCertificate) =>
            tls.checkServerIdentity(target.tlsName, cert),
        }),
  });
  const dialPort = target === undefined ? undefined : String(target.port);
  return (connectOptions, callback) => {
    const port = dialPort ?? connectOptions.port;
    const attempt = (targets: readonly ResolvedAddress[], i: number): void => {
      const next = targets[i]!;
      if (dialChannel.hasSubscribers) {
        dialChannel.publish({
          hostname: connectOptions.hostname,
          address: next.address,
          port,
          protocol: connectOptions.protocol,
        });
      }
      dial({ ...connectOptions, hostname: next.address, port }, (error, socket) => {
        const code = error ? ((error as NodeJS.ErrnoException).code ?? "") : "";
        if (error && i + 1 < targets.length && RETRYABLE_CONNECT.has(code)) {
          attempt(targets, i + 1);
        } else if (error) {
          callback(error, null);
        } else {
          callback(null, socket);
        }
      });
    };
    checkedAddresses(settings, target?.host ?? connectOptions.hostname).then(
      (targets) => attempt(targets, 0),
      (error: Error) => callback(error, null),
    );
  };
}

/**
 * The dispatcher every request of one SafeFetch goes through. A proxy dials the target
 * itself, so with one the guard can only pre-check each hop (see `safeFetch`).
 * @internal
 */
export function createGuardedDispatcher(
  settings: SafeFetchSettings,
  target?: ConnectTarget,
): Dispatcher {
  const timeouts = { headersTimeout: settings.timeoutMs, bodyTimeout: settings.timeoutMs };
  return settings.proxy !== undefined
    ? new ProxyAgent({ uri: settings.proxy, ...timeouts })
    : new Agent({ connect: guardedConnector(settings, target), ...timeouts });
}
