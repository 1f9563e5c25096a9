// The `federation` section: fetching remote media and serving other servers, and the TLS of
// the listener (federation peers speak HTTPS).
import { ConfigError } from "../index.js";
import {
  readBool,
  readBytes,
  readInt,
  readObject,
  readString,
  readStringList,
  refuseUnknownKeys,
  type ConfigObject,
} from "./config-values.js";

/** A notary (`federation.trustedKeyServers[]`). */
export interface TrustedKeyServerConfig {
  serverName: string;
  /** Key ID → unpadded base64 public key. */
  verifyKeys: Record<string, string>;
}

/** `federation.*`. */
export interface FederationConfig {
  /** `federation.enabled`: fetch remote media and serve the federation media API. */
  enabled: boolean;
  /** `federation.signingKeyPath`: Synapse's signing-key file of `serverName`. */
  signingKeyPath?: string;
  /** `federation.allowRanges`: private ranges federation peers may be in (SSRF guard). */
  allowRanges?: string[];
  /** `federation.denyRanges`: ranges refused on top of the default deny list. */
  denyRanges?: string[];
  /** `federation.legacyFallback`: try `/_matrix/media/v3/download` on old servers. */
  legacyFallback: boolean;
  /** `federation.maxRemoteBytes`: largest remote media fetched. */
  maxRemoteBytes?: number;
  /** `federation.timeoutMs`: deadline of one remote fetch (1–60000). */
  timeoutMs?: number;
  /** `federation.trustedKeyServers`: notaries asked for keys a server cannot give itself. */
  trustedKeyServers: TrustedKeyServerConfig[];
  /** `federation.caFile`: extra CA certificates (PEM) for peers with a private CA. */
  caFile?: string;
  /** `federation.serveKeys`: answer `GET /_matrix/key/v2/server` with our key. */
  serveKeys: boolean;
}

/** `listen.tls`: certificate and key files; the listener then speaks HTTPS. */
export interface ListenTlsConfig {
  certFile: string;
  keyFile: string;
}

const FEDERATION_KEYS = [
  "enabled",
  "signingKeyPath",
  "allowRanges",
  "denyRanges",
  "legacyFallback",
  "maxRemoteBytes",
  "timeoutMs",
  "trustedKeyServers",
  "caFile",
  "serveKeys",
] as const;

function resolveTrustedKeyServers(value: unknown): TrustedKeyServerConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new ConfigError("Expected a list for federation.trustedKeyServers", {
      option: "federation.trustedKeyServers",
    });
  return value.map((entry, i) => {
    const key = `federation.trustedKeyServers[${i}]`;
    const o = readObject(entry, key);
    refuseUnknownKeys(o, ["serverName", "verifyKeys"], key);
    const keys = readObject(o.verifyKeys, `${key}.verifyKeys`);
    const verifyKeys: Record<string, string> = {};
    for (const [id, k] of Object.entries(keys)) {
      verifyKeys[id] = readString(k, `${key}.verifyKeys.${id}`);
    }
    if (Object.keys(verifyKeys).length === 0)
      throw new ConfigError(`${key}.verifyKeys needs at least one key`, {
        option: `${key}.verifyKeys`,
      });
    return { serverName: readString(o.serverName, `${key}.serverName`), verifyKeys };
  });
}

/** @internal */
export function resolveFederation(
  value: unknown,
  resolvePath: (p: string) => string,
): FederationConfig {
  const f: ConfigObject = readObject(value, "federation");
  refuseUnknownKeys(f, FEDERATION_KEYS, "federation");
  const enabled = readBool(f.enabled, "federation.enabled", false);
  if (enabled && f.signingKeyPath === undefined)
    throw new ConfigError(
      "federation.enabled needs federation.signingKeyPath (the homeserver's signing key file, which it publishes)",
      { option: "federation.signingKeyPath" },
    );
  const list = (name: "allowRanges" | "denyRanges") => {
    const ranges = readStringList(f[name], `federation.${name}`);
    return ranges ? { [name]: ranges } : {};
  };
  return {
    enabled,
    ...(f.signingKeyPath !== undefined && {
      signingKeyPath: resolvePath(readString(f.signingKeyPath, "federation.signingKeyPath")),
    }),
    ...list("allowRanges"),
    ...list("denyRanges"),
    legacyFallback: readBool(f.legacyFallback, "federation.legacyFallback", false),
    ...(f.maxRemoteBytes !== undefined && {
      maxRemoteBytes: readBytes(f.maxRemoteBytes, "federation.maxRemoteBytes", 0),
    }),
    ...(f.timeoutMs !== undefined && {
      timeoutMs: readInt(f.timeoutMs, "federation.timeoutMs", 20_000, 1, 60_000),
    }),
    trustedKeyServers: resolveTrustedKeyServers(f.trustedKeyServers),
    ...(f.caFile !== undefined && {
      caFile: resolvePath(readString(f.caFile, "federation.caFile")),
    }),
    serveKeys: readBool(f.serveKeys, "federation.serveKeys", true),
  };
}

/** @internal */
export function resolveListenTls(
  value: unknown,
  resolvePath: (p: string) => string,
): ListenTlsConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const t = readObject(value, "listen.tls");
  refuseUnknownKeys(t, ["certFile", "keyFile"], "listen.tls");
  return {
    certFile: resolvePath(readString(t.certFile, "listen.tls.certFile")),
    keyFile: resolvePath(readString(t.keyFile, "listen.tls.keyFile")),
  };
}
