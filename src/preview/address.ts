// CIDR parsing and address classification for the SSRF guard. Addresses are classified as
// the socket will dial them (family + bits), never as the URL spelled them.
import net from "node:net";
import { ConfigError } from "../errors.js";

/** A parsed CIDR range: family, network bits and prefix length. */
export interface CidrRange {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The network address as an unsigned integer of 32 or 128 bits. */
  readonly network: bigint;
  /** Prefix length, 0–32 or 0–128. */
  readonly prefix: number;
  /** The range as written (normalised), for messages. */
  readonly text: string;
}

const IPV4_RANGES_DENIED = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
] as const;

const IPV6_RANGES_DENIED = [
  "::/128",
  "::1/128",
  "64:ff9b::/96",
  "64:ff9b:1::/48",
  "100::/64",
  "2001:db8::/32",
  "fc00::/7",
  "fe80::/10",
  "fec0::/10",
  "ff00::/8",
] as const;

function ipv4Embeddings(range: string): string[] {
  const [addr, len] = range.split("/") as [string, string];
  const prefix = Number(len);
  const value = parseIPv4(addr)!;
  const hi = Number((value >> 16n) & 0xffffn).toString(16);
  const lo = Number(value & 0xffffn).toString(16);
  return [
    `::ffff:${addr}/${96 + prefix}`, // IPv4-mapped
    `::${addr}/${96 + prefix}`, // IPv4-compatible (deprecated, still routed by some stacks)
    `2002:${hi}:${lo}::/${16 + prefix}`, // 6to4
  ];
}

/**
 * The address ranges the guard always refuses: Synapse's recommended
 * `url_preview_ip_range_blacklist`, plus `0.0.0.0/8`, `240.0.0.0/4`, `::/128`,
 * `64:ff9b::/96`, `64:ff9b:1::/48`, `100::/64`, and the IPv4-mapped (`::ffff:0:0/96`),
 * IPv4-compatible (`::/96`) and 6to4 (`2002::/16`) forms of every IPv4 range.
 *
 * `createSafeFetch` adds its `denyRanges` to this list; nothing removes from it. Only an
 * explicit `allowRanges` entry lets an address inside it through.
 *
 * @example
 * ```ts
 * import { DEFAULT_DENY_RANGES } from "matrix-media-kit/preview";
 * DEFAULT_DENY_RANGES.includes("127.0.0.0/8"); // true
 * ```
 */
export const DEFAULT_DENY_RANGES: readonly string[] = Object.freeze([
  ...IPV4_RANGES_DENIED,
  ...IPV6_RANGES_DENIED,
  ...IPV4_RANGES_DENIED.flatMap(ipv4Embeddings),
]);

function parseIPv4(text: string): bigint | undefined {
  // Only the strict dotted-quad form: socket addresses and CIDRs never use 127.1 or 0x7f.
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIPv6(input: string): bigint | undefined {
  let text = input;
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  if (!net.isIPv6(text)) return undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    const hex = (n: bigint): string => n.toString(16);
    text = `${text.slice(0, lastColon + 1)}${hex(v4 >> 16n)}:${hex(v4 & 0xffffn)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): bigint[] =>
    s === "" ? [] : s.split(":").map((g) => BigInt(parseInt(g, 16)));
  const head = groupsOf(halves[0] ?? "");
  const rest = halves.length === 2 ? groupsOf(halves[1] ?? "") : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 0 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<bigint>(missing).fill(0n), ...rest];
  let value = 0n;
  for (const g of groups) value = (value << 16n) | g;
  return value;
}

/**
 * Parses an IP address as a socket would dial it: strict dotted-quad IPv4 or any IPv6
 * form (brackets and a `%zone` are accepted and ignored). `undefined` for anything else,
 * including hostnames and shorthand IPv4 such as `127.1` (URLs normalise those first).
 *
 * @example
 * ```ts
 * parseIpAddress("::ffff:127.0.0.1"); // { family: 6, value: 0xffff7f000001n }
 * ```
 */
export function parseIpAddress(address: string): { family: 4 | 6; value: bigint } | undefined {
  let text = address.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return { family: 6, value: v6 };
  return undefined;
}

/**
 * Parses `"10.0.0.0/8"` or `"fc00::/7"` (a bare address means a single host). Throws a
 * `TypeError` naming the bad value; host bits set below the prefix are refused rather
 * than silently masked.
 *
 * @example
 * ```ts
 * parseCidr("192.168.0.0/16"); // { family: 4, prefix: 16, ... }
 * ```
 */
export function parseCidr(cidr: string): CidrRange {
  if (typeof cidr !== "string") {
    throw new TypeError(`Expected a CIDR string such as "10.0.0.0/8" but received ${typeof cidr}`);
  }
  const slash = cidr.indexOf("/");
  const addrText = slash === -1 ? cidr : cidr.slice(0, slash);
  const parsed = parseIpAddress(addrText);
  if (!parsed) {
    throw new TypeError(
      `Expected a CIDR such as "10.0.0.0/8" or "fc00::/7" but received "${cidr}"`,
    );
  }
  const bits = parsed.family === 4 ? 32 : 128;
  const lenText = slash === -1 ? String(bits) : cidr.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > bits) {
    throw new TypeError(`Expected a prefix length 0–${bits} in CIDR "${cidr}"`);
  }
  const prefix = Number(lenText);
  const hostBits = BigInt(bits - prefix);
  if (prefix < bits && (parsed.value & ((1n << hostBits) - 1n)) !== 0n) {
    throw new TypeError(`CIDR "${cidr}" has host bits set below its /${prefix} prefix`);
  }
  return { family: parsed.family, network: parsed.value, prefix, text: `${addrText}/${prefix}` };
}

function inRange(family: 4 | 6, value: bigint, range: CidrRange): boolean {
  if (range.family !== family) return false;
  const shift = BigInt((family === 4 ? 32 : 128) - range.prefix);
  return value >> shift === range.network >> shift;
}

/** Which ranges an {@link AddressPolicy} denies and allows. */
export interface AddressPolicyOptions {
  /**
   * Ranges refused in addition to {@link DEFAULT_DENY_RANGES} (which always apply).
   * @defaultValue `[]`
   */
  denyRanges?: readonly string[];
  /**
   * Ranges let through even when a deny range contains them. Name exactly what you need
   * (e.g. `"127.0.0.1/32"` for a test server); an IPv4 entry does not allow that address's
   * IPv6-mapped forms.
   * @defaultValue `[]`
   */
  allowRanges?: readonly string[];
}

/** A compiled, validated address policy. */
export interface AddressPolicy {
  readonly denyRanges: readonly CidrRange[];
  readonly allowRanges: readonly CidrRange[];
  /** True when a connection to `address` (an IP literal) is allowed. Non-IPs are refused. */
  isAllowed(address: string): boolean;
}

/**
 * Compiles a deny/allow policy once (options validated, CIDRs parsed).
 *
 * @example
 * ```ts
 * const policy = createAddressPolicy({ allowRanges: ["127.0.0.1/32"] });
 * policy.isAllowed("127.0.0.1"); // true
 * policy.isAllowed("127.0.0.2"); // false
 * ```
 */
export function createAddressPolicy(options: AddressPolicyOptions = {}): AddressPolicy {
  const list = (name: string, value: readonly string[] | undefined): CidrRange[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      throw new ConfigError(
        `createAddressPolicy: expected options.${name} to be an array of CIDR strings but received ${typeof value}`,
        { option: name },
      );
    }
    return value.map((entry: string, i) => {
      try {
        return parseCidr(entry);
      } catch (error) {
        throw new ConfigError(`Invalid entry in ${name}[${i}]: ${(error as Error).message}`, {
          option: `${name}[${i}]`,
          cause: error,
        });
      }
    });
  };
  const denyRanges = [
    ...DEFAULT_DENY_RANGES.map(parseCidr),
    ...list("denyRanges", options.denyRanges),
  ];
  const allowRanges = list("allowRanges", options.allowRanges);
  return {
    denyRanges,
    allowRanges,
    isAllowed(address: string): boolean {
      const parsed = parseIpAddress(address);
      if (!parsed) return false;
      if (allowRanges.some((r) => inRange(parsed.family, parsed.value, r))) return true;
      return !denyRanges.some((r) => inRange(parsed.family, parsed.value, r));
    },
  };
}

let defaultPolicy: AddressPolicy | undefined;

/**
 * True when the guard would let a connection to `address` through. `policy` is either a
 * compiled {@link AddressPolicy} or its options; omitted, the defaults apply
 * ({@link DEFAULT_DENY_RANGES}, no allow list). Anything that is not an IP literal is refused.
 *
 * @example
 * ```ts
 * isAddressAllowed("10.1.2.3"); // false
 * isAddressAllowed("::ffff:10.1.2.3"); // false
 * isAddressAllowed("93.184.215.14"); // true
 * isAddressAllowed("127.0.0.1", { allowRanges: ["127.0.0.1/32"] }); // true
 * ```
 */
export function isAddressAllowed(
  address: string,
  policy?: AddressPolicy | AddressPolicyOptions,
): boolean {
  let compiled: AddressPolicy;
  if (policy === undefined) compiled = defaultPolicy ??= createAddressPolicy();
  else if ("isAllowed" in policy && typeof policy.isAllowed === "function") compiled = policy;
  else compiled = createAddressPolicy(policy as AddressPolicyOptions);
  return compiled.isAllowed(address);
}
