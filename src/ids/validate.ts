import net from "node:net";

const MEDIA_ID = /^[A-Za-z0-9_-]{1,255}$/;
const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV4 =
  /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/**
 * True when `value` is a media ID the kit accepts: 1–255 characters of `[A-Za-z0-9_-]`,
 * as the Matrix spec requires. Every path component that names media goes through this
 * before any storage call.
 *
 * @example
 * ```ts
 * isValidMediaId("AbC_12-x"); // true
 * isValidMediaId("../etc");   // false
 * ```
 */
export function isValidMediaId(value: string): boolean {
  return MEDIA_ID.test(value);
}

/**
 * True when `value` follows the Matrix server name grammar: a DNS name, an IPv4 address
 * or a bracketed IPv6 address, optionally followed by `:port` (1–65535).
 *
 * @example
 * ```ts
 * isValidServerName("matrix.org");      // true
 * isValidServerName("[::1]:8448");      // true
 * isValidServerName("evil.org/../x");   // false
 * ```
 */
export function isValidServerName(value: string): boolean {
  if (value.length === 0 || value.length > 255 + 8) return false;
  let host = value;
  const portMatch = /:([0-9]{1,5})$/.exec(value);
  if (portMatch && !(value.startsWith("[") && !value.slice(0, portMatch.index).endsWith("]"))) {
    const port = Number(portMatch[1]);
    if (port < 1 || port > 65535) return false;
    host = value.slice(0, portMatch.index);
  }
  if (host.startsWith("[")) {
    return host.endsWith("]") && net.isIPv6(host.slice(1, -1));
  }
  if (IPV4.test(host)) return true;
  if (!DNS_NAME.test(host)) return false;
  // Labels must not be empty (no "a..b", no leading dot); a trailing dot is tolerated by DNS but not by the spec.
  return host.split(".").every((label) => label.length > 0 && label.length <= 63);
}
