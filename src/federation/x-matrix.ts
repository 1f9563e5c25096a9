// The X-Matrix authentication scheme of server-server requests (spec "Request
// Authentication"): `Authorization: X-Matrix origin="…",destination="…",key="…",sig="…"`,
// where sig signs the Canonical JSON of {method, uri, origin, destination, content}.
import { sign } from "node:crypto";
import { encodeBase64 } from "./base64.js";
import { canonicalJson } from "./canonical-json.js";
import { FederationError } from "./errors.js";
import type { SigningKey } from "./signing-key.js";

/** The parameters of one X-Matrix credential. */
export interface XMatrixAuth {
  /** The sending server's name. */
  origin: string;
  /** The receiving server's name; older servers omit it. */
  destination?: string | undefined;
  /** The signing key's ID, e.g. `ed25519:a_AbCd`. */
  keyId: string;
  /** The unpadded Base64 signature. */
  signature: string;
}

/** What {@link signRequest} signs. */
export interface FederationRequest {
  /** The HTTP method, upper case as sent. */
  method: string;
  /** The path and query exactly as sent, e.g. `/_matrix/media/v1/download/a.org/abc`. */
  uri: string;
  /** Our server name. */
  origin: string;
  /** The server the request is for. */
  destination: string;
  /** The JSON body, when there is one. */
  content?: unknown;
}

/** Longest Authorization value parsed, and most X-Matrix credentials accepted per request. */
const MAX_HEADER_LENGTH = 16_384;
const MAX_CREDENTIALS = 8;
/** RFC 9110 tchar, by char code. */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN[c.charCodeAt(0)] = 1;
}

const UNQUOTED_END = /[\s,"]/;
const quote = (value: string) => `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/**
 * Formats an X-Matrix `Authorization` header value, every value quoted.
 *
 * @example
 * ```ts
 * formatXMatrix({ origin: "a.org", destination: "b.org", keyId: "ed25519:k", signature: "c2ln" });
 * // 'X-Matrix origin="a.org",destination="b.org",key="ed25519:k",sig="c2ln"'
 * ```
 */
export function formatXMatrix(auth: XMatrixAuth): string {
  const destination =
    auth.destination === undefined ? "" : `destination=${quote(auth.destination)},`;
  return `X-Matrix origin=${quote(auth.origin)},${destination}key=${quote(auth.keyId)},sig=${quote(auth.signature)}`;
}

/** @internal The JSON object an X-Matrix signature covers. */
export function requestJson(request: FederationRequest): Record<string, unknown> {
  const json: Record<string, unknown> = {
    method: request.method,
    uri: request.uri,
    origin: request.origin,
    destination: request.destination,
  };
  if (request.content !== undefined) json.content = request.content;
  return json;
}

/**
 * Signs an outgoing federation request and returns the `Authorization` header value.
 *
 * @example
 * ```ts
 * const authorization = signRequest(key, {
 *   method: "GET",
 *   uri: "/_matrix/federation/v1/media/download/abc",
 *   origin: "a.org",
 *   destination: "b.org",
 * });
 * ```
 */
export function signRequest(key: SigningKey, request: FederationRequest): string {
  const bytes = Buffer.from(canonicalJson(requestJson(request)), "utf8");
  return formatXMatrix({
    origin: request.origin,
    destination: request.destination,
    keyId: key.keyId,
    signature: encodeBase64(sign(null, bytes, key.privateKey)),
  });
}

const bad = (message: string) => new FederationError("bad_header", message);

/** A cursor over one header value, following RFC 9110's credentials grammar. */
class Cursor {
  pos = 0;
  constructor(readonly text: string) {}
  get done(): boolean {
    return this.pos >= this.text.length;
  }
  peek(): string {
    return this.text[this.pos] ?? "";
  }
  skipSpace(): void {
    while (this.peek() === " " || this.peek() === "\t") this.pos++;
  }
  token(): string {
    const start = this.pos;
    while (this.pos < this.text.length && TOKEN[this.text.charCodeAt(this.pos)] === 1) this.pos++;
    return this.text.slice(start, this.pos);
  }
  /**
   * At a comma: steps over it and tells whether `name =` follows (another parameter of this
   * credential) rather than a new credential's scheme.
   */
  paramFollowsComma(): boolean {
    const afterComma = ++this.pos;
    this.skipSpace();
    const next = this.token();
    this.skipSpace();
    const isParam = next !== "" && this.peek() === "=";
    this.pos = afterComma;
    return isParam;
  }
  /** A quoted-string with backslash escapes, or an unquoted value (the spec asks recipients to accept colons unquoted). */
  value(): string {
    if (this.peek() === '"') {
      this.pos++;
      // Usually no escapes: the value is everything up to the next quote.
      const close = this.text.indexOf('"', this.pos);
      if (close !== -1 && !this.text.slice(this.pos, close).includes("\\")) {
        const plain = this.text.slice(this.pos, close);
        this.pos = close + 1;
        return plain;
      }
      let out = "";
      for (;;) {
        if (this.done) throw bad("X-Matrix: unterminated quoted value");
        const c = this.text[this.pos++]!;
        if (c === '"') return out;
        if (c === "\\") {
          if (this.done) throw bad("X-Matrix: unterminated quoted value");
          out += this.text[this.pos++]!;
        } else out += c;
      }
    }
    const start = this.pos;
    while (this.pos < this.text.length && !UNQUOTED_END.test(this.text[this.pos]!)) this.pos++;
    if (this.pos === start) throw bad("X-Matrix: a parameter has an empty value");
    return this.text.slice(start, this.pos);
  }
}

/** Parses one credential's parameters (the cursor is after the scheme); stops before the next credential. */
function readParams(cursor: Cursor, params: Map<string, string>): void {
  for (;;) {
    cursor.skipSpace();
    if (cursor.done) return;
    const name = cursor.token();
    cursor.skipSpace();
    if (name === "" || cursor.peek() !== "=") throw bad("X-Matrix: expected name=value parameters");
    cursor.pos++;
    cursor.skipSpace();
    const value = cursor.value();
    cursor.skipSpace();
    const key = name.toLowerCase();
    if (params.has(key)) throw bad(`X-Matrix: the parameter ${key} appears twice`);
    params.set(key, value);
    if (cursor.done) return;
    if (cursor.peek() !== ",") throw bad("X-Matrix: parameters must be separated by commas");
    if (!cursor.paramFollowsComma()) return;
  }
}

function toAuth(params: Map<string, string>): XMatrixAuth {
  const origin = params.get("origin");
  const keyId = params.get("key");
  const signature = params.get("sig");
  if (!origin || !keyId || !signature) {
    throw bad("X-Matrix: origin, key and sig are required");
  }
  const destination = params.get("destination");
  if (destination === "") throw bad("X-Matrix: destination is empty");
  return { origin, destination, keyId, signature };
}

/** Skips the token68 or parameters of another scheme (Bearer …), up to the next credential. */
function skipOtherScheme(cursor: Cursor): void {
  for (;;) {
    while (!cursor.done && cursor.peek() !== ",") {
      if (cursor.peek() === '"') {
        try {
          cursor.value();
        } catch {
          cursor.pos = cursor.text.length;
        }
      } else cursor.pos++;
    }
    if (cursor.done || !cursor.paramFollowsComma()) return;
  }
}

/** Parses a list of credentials (one header value, possibly several joined by commas). */
function parseList(text: string, out: XMatrixAuth[]): void {
  if (text.length > MAX_HEADER_LENGTH) throw bad("Authorization header too long");
  const cursor = new Cursor(text);
  for (;;) {
    while (cursor.peek() === "," || /\s/.test(cursor.peek())) cursor.pos++;
    if (cursor.done) return;
    const scheme = cursor.token();
    if (scheme === "") throw bad("Authorization: expected an authentication scheme");
    const isXMatrix = scheme.toLowerCase() === "x-matrix";
    if (isXMatrix && !cursor.done && cursor.peek() !== " " && cursor.peek() !== "\t") {
      throw bad("X-Matrix: expected a space after the scheme");
    }
    if (isXMatrix) {
      const params = new Map<string, string>();
      readParams(cursor, params);
      out.push(toAuth(params));
      if (out.length > MAX_CREDENTIALS) throw bad("Authorization: too many X-Matrix credentials");
    } else {
      skipOtherScheme(cursor);
    }
  }
}

/**
 * Parses one `Authorization` value holding exactly one X-Matrix credential. The scheme is
 * case-insensitive, parameters are comma-separated with optional whitespace, values are quoted
 * strings (backslash escapes) or unquoted (colons allowed, for older servers); unknown
 * parameters are ignored, duplicated ones refused. Anything else throws a
 * {@link FederationError} with reason `bad_header`.
 *
 * @example
 * ```ts
 * parseXMatrix('X-Matrix origin=a.org,key="ed25519:k",sig="c2ln"');
 * // { origin: "a.org", destination: undefined, keyId: "ed25519:k", signature: "c2ln" }
 * ```
 */
export function parseXMatrix(headerValue: string): XMatrixAuth {
  const all: XMatrixAuth[] = [];
  parseList(headerValue, all);
  if (all.length !== 1)
    throw bad(`Authorization: expected one X-Matrix credential, found ${all.length}`);
  return all[0]!;
}

/**
 * Every X-Matrix credential of a request. A request may carry several `Authorization`
 * headers: pass Node's `req.headersDistinct.authorization` (an array; `req.headers` keeps only
 * the first `Authorization`), or one value where proxies joined them with commas. Credentials
 * of other schemes are skipped; a malformed X-Matrix credential throws a
 * {@link FederationError} with reason `bad_header`. At most 8 credentials are accepted.
 *
 * @example
 * ```ts
 * const credentials = parseAuthorizationHeaders(req.headersDistinct.authorization);
 * ```
 */
export function parseAuthorizationHeaders(value: string | string[] | undefined): XMatrixAuth[] {
  const out: XMatrixAuth[] = [];
  if (value === undefined) return out;
  for (const text of typeof value === "string" ? [value] : value) parseList(text, out);
  return out;
}
