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

/** Deeper structures are refused: they are hostile (or circular) and would overflow the stack. */
const MAX_DEPTH = 256;
const ABOVE_SURROGATES = /[\ud800-\uffff]/;

class CanonicalJsonError extends TypeError {
  constructor(
    readonly reason: string,
    readonly path: string[] = [],
  ) {
    super(reason);
  }
}

function sortKeys(keys: string[]): string[] {
  keys.sort();
  // The default order is by UTF-16 unit; it differs from code point order only around surrogates.
  for (const key of keys) if (ABOVE_SURROGATES.test(key)) return keys.sort(compareCodePoints);
  return keys;
}

function encode(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      // JSON.stringify escapes exactly `"`, `\` and U+0000–U+001F (and lone surrogates).
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isInteger(value) || Math.abs(value) > MAX_SAFE) {
        throw new CanonicalJsonError(
          `is ${String(value)}: only integers within ±(2^53 - 1) are allowed`,
        );
      }
      return Object.is(value, -0) ? "0" : String(value);
    case "object":
      break;
    default:
      throw new CanonicalJsonError(`is ${typeof value}`);
  }
  if (value === null) return "null";
  if (depth >= MAX_DEPTH)
    throw new CanonicalJsonError(`nests deeper than ${MAX_DEPTH} (or is circular)`);
  let at = "";
  try {
    if (Array.isArray(value)) {
      let out = "[";
      for (let i = 0; i < value.length; i++) {
        at = String(i);
        out += (i === 0 ? "" : ",") + encode(value[i], depth + 1);
      }
      return out + "]";
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null)
      throw new CanonicalJsonError("is not a plain object");
    const record = value as Record<string, unknown>;
    let out = "{";
    for (const key of sortKeys(Object.keys(record))) {
      at = key;
      out +=
        (out.length === 1 ? "" : ",") + JSON.stringify(key) + ":" + encode(record[key], depth + 1);
    }
    return out + "}";
  } catch (err) {
    if (err instanceof CanonicalJsonError && at !== "") err.path.unshift(at);
    throw err;
  }
}

/**
 * Encodes `value` as the spec's Canonical JSON: object keys sorted by Unicode code point,
 * no whitespace, non-ASCII characters written as themselves (UTF-8 once encoded), only the
 * escapes JSON requires. Signatures are computed over these bytes.
 *
 * Throws a `TypeError` for what Canonical JSON cannot represent: non-integer numbers,
 * integers beyond ±(2^53 - 1), `NaN`/`Infinity`, `undefined`, functions, symbols, bigints,
 * class instances (`Date`, `Buffer`, …), and structures nested deeper than 256 levels
 * (circular ones included).
 *
 * @example
 * ```ts
 * canonicalJson({ b: "2", a: "1", n: { "本": 2, "日": 1 } });
 * // '{"a":"1","b":"2","n":{"日":1,"本":2}}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  try {
    return encode(value, 0);
  } catch (err) {
    if (!(err instanceof CanonicalJsonError)) throw err;
    const where = err.path.map((p) => `[${JSON.stringify(p)}]`).join("");
    throw new TypeError(`Canonical JSON cannot encode value${where}: it ${err.reason}`, {
      cause: err,
    });
  }
}
