// Public exports of outbound federation transport: server names, discovery, the multipart
// reader, remote media headers and the federation client.
export { parseServerName } from "./server-name.js";
export type { ParsedServerName } from "./server-name.js";
export { DEFAULT_DISCOVERY_OPTIONS, createServerDiscovery } from "./discovery.js";
export type {
  ResolvedServer,
  ServerDiscovery,
  ServerDiscoveryOptions,
  SrvRecord,
  SrvResolver,
} from "./discovery.js";
export { FEDERATION_MULTIPART_LIMITS, readFederationMultipart } from "./multipart.js";
export type { FederationMediaPart, FederationMultipart } from "./multipart.js";
export { parseContentDisposition } from "./media.js";
export type { ParsedContentDisposition } from "./media.js";
export { DEFAULT_FEDERATION_CLIENT_OPTIONS, createFederationClient } from "./client.js";
export type {
  DownloadMediaOptions,
  FederationAuthorizer,
  FederationClient,
  FederationClientOptions,
  RemoteMediaResponse,
} from "./client.js";
