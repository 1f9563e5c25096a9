// Matrix server names: `host[:port]`, where host is a DNS name, an IPv4 address or a
// bracketed IPv6 address. Parsing reuses the grammar check of src/ids/validate.ts.
import net from "node:net";
import { MediaError } from "../errors.js";
import { isValidServerName } from "../ids/validate.js";

/** A parsed Matrix server name. */
export interface ParsedServerName {
  /** The host without brackets: a lower-cased DNS name, an IPv4 or an IPv6 address. */
  host: string;
  /** The explicit port, when the name has one. */
  port?: number;
  /** Set when `host` is an IP literal. */
  ip?: 4 | 6;
}

/**
 * Parses a server name (`example.org`, `example.org:8448`, `1.2.3.4`, `[2001:db8::1]:8448`).
 * Throws a `MediaError` `M_INVALID_PARAM` (400) for anything the spec's grammar refuses.
 *
 * @example
 * ```ts
 * parseServerName("[::1]:8448"); // { host: "::1", port: 8448, ip: 6 }
 * parseServerName("Matrix.org"); // { host: "matrix.org" }
 * ```
 */
export function parseServerName(name: string): ParsedServerName {
  if (typeof name !== "string" || !isValidServerName(name)) {
    throw new MediaError("M_INVALID_PARAM", "Invalid server name", { status: 400 });
  }
  let host = name;
  let port: number | undefined;
  const portMatch = /:([0-9]{1,5})$/.exec(name);
  // An IPv6 literal has colons of its own: a port follows only its closing bracket.
  if (portMatch !== null && (!name.startsWith("[") || name[portMatch.index - 1] === "]")) {
    port = Number(portMatch[1]);
    host = name.slice(0, portMatch.index);
  }
  if (host.startsWith("[")) host = host.slice(1, -1);
  const family = net.isIP(host);
  const parsed: ParsedServerName = { host: family === 0 ? host.toLowerCase() : host };
  if (port !== undefined) parsed.port = port;
  if (family === 4 || family === 6) parsed.ip = family;
  return parsed;
}

/** `host[:port]` as it appears in a URL authority and a Host header (IPv6 bracketed). @internal */
export function formatAuthority(host: string, port?: number): string {
  const h = net.isIPv6(host) ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}
