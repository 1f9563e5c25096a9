// Canonical JSON (Matrix spec appendix): keys sorted by Unicode code point, no insignificant
// whitespace, non-ASCII written as UTF-8, integers only in the IEEE-754 exact range.

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Orders strings by Unicode code point. JavaScript's default sort compares UTF-16 code units,
 * which puts U+E000–U+FFFF after astral characters; the spec orders by code point.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (0xD800–0xDFFF) stands for a code point above every BMP character.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

function encode(value: unknown, path: string, seen: Set<object>): string {
  switch (typeof value) {
    case "string":
      // JSON.stringify escapes exactly `"`, `\` and U+0000–U+001F (and lone surrogates).
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isInteger(value) || Math.abs(value) > MAX_SAFE) {
        throw new TypeError(
          `Canonical JSON allows only integers within ±(2^53 - 1), but ${path} is ${String(value)}`,
        );
      }
      return Object.is(value, -0) ? "0" : String(value);
    case "object":
      break;
    default:
      throw new TypeError(`Canonical JSON cannot encode ${path}: it is ${typeof value}`);
  }
  if (value === null) return "null";
  if (seen.has(value)) throw new TypeError(`Canonical JSON cannot encode ${path}: it is circular`);
  seen.add(value);
  let out: string;
  if (Array.isArray(value)) {
    const parts: string[] = [];
    for (let i = 0; i < value.length; i++) parts.push(encode(value[i], `${path}[${i}]`, seen));
    out = `[${parts.join(",")}]`;
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`Canonical JSON cannot encode ${path}: it is not a plain object`);
    }
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort(compareCodePoints);
    const parts: string[] = [];
    for (const key of keys) {
      parts.push(`${JSON.stringify(key)}:${encode(record[key], `${path}.${key}`, seen)}`);
    }
    out = `{${parts.join(",")}}`;
  }
  seen.delete(value);
  return out;
}

/**
 * Encodes `value` as the spec's Canonical JSON: object keys sorted by Unicode code point,
 * no whitespace, non-ASCII characters written as themselves (UTF-8 once encoded), only the
 * escapes JSON requires. Signatures are computed over these bytes.
 *
 * Throws a `TypeError` for what Canonical JSON cannot represent: non-integer numbers,
 * integers beyond ±(2^53 - 1), `NaN`/`Infinity`, `undefined`, functions, symbols, bigints,
 * class instances (`Date`, `Buffer`, …) and circular structures.
 *
 * @example
 * ```ts
 * canonicalJson({ b: "2", a: "1", n: { "本": 2, "日": 1 } });
 * // '{"a":"1","b":"2","n":{"日":1,"本":2}}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return encode(value, "value", new Set());
}
