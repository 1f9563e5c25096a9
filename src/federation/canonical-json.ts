// Canonical JSON (Matrix spec appendix): keys sorted by Unicode code point, no insignificant
// whitespace, non-ASCII written as UTF-8, integers only in the IEEE-754 exact range.

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

function sortKeys(keys: string[]): string[] {
  // Objects are often built in order already: check before sorting, and look for characters
  // at or above U+D800, the only ones where UTF-16 order and code point order differ.
  let sorted = true;
  let surrogateRange = false;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0 && keys[i - 1]! >= key) sorted = false;
    for (let j = 0; j < key.length && !surrogateRange; j++) {
      if (key.charCodeAt(j) >= 0xd800) surrogateRange = true;
    }
  }
  if (surrogateRange) return keys.sort(compareCodePoints);
  return sorted ? keys : keys.sort();
}

/** Thrown by the fast encoder; the message is then worked out by {@link problemOf}. */
const REFUSED = new Error("refused");

const isPlainObject = (value: object) => {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
};

// The hot path of every signature: no path bookkeeping, which only an error message needs.
function encode(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      // JSON.stringify escapes exactly `"`, `\` and U+0000–U+001F (and lone surrogates).
      return JSON.stringify(value);
    case "number":
      if (!Number.isSafeInteger(value)) throw REFUSED;
      return value === 0 ? "0" : String(value); // -0 is written 0
    case "boolean":
      return value ? "true" : "false";
    case "object":
      break;
    default:
      throw REFUSED;
  }
  if (value === null) return "null";
  if (depth >= MAX_DEPTH) throw REFUSED;
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      out += encode(value[i], depth + 1);
    }
    return out + "]";
  }
  if (!isPlainObject(value)) throw REFUSED;
  const record = value as Record<string, unknown>;
  const keys = sortKeys(Object.keys(record));
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0) out += ",";
    out += JSON.stringify(key) + ":" + encode(record[key], depth + 1);
  }
  return out + "}";
}

/** Where and why `value` cannot be encoded (the slow path, for the error message). */
function problemOf(value: unknown, path: string, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isSafeInteger(value)
        ? undefined
        : `${path} is ${String(value)}: only integers within ±(2^53 - 1) are allowed`;
    case "object":
      break;
    default:
      return `${path} is ${typeof value}`;
  }
  if (value === null) return undefined;
  if (depth >= MAX_DEPTH) return `value: it nests deeper than ${MAX_DEPTH} levels (or is circular)`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = problemOf(value[i], `${path}[${i}]`, depth + 1);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (!isPlainObject(value)) return `${path} is not a plain object`;
  for (const [key, item] of Object.entries(value)) {
    const problem = problemOf(item, `${path}[${JSON.stringify(key)}]`, depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
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
    if (err !== REFUSED) throw err;
    const problem = problemOf(value, "value", 0) ?? "value cannot be encoded";
    throw new TypeError(`Canonical JSON cannot encode ${problem}`, { cause: err });
  }
}
