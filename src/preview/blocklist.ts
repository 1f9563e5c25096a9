// URL blocklist rules: a rule is a set of URL components, each a glob (`*`, `?`) or, when
// it starts with `^`, a regular expression; a URL is blocked when every component of some
// rule matches. Applied to the page URL, every redirect target is covered by the address
// guard, and oEmbed endpoints and og:image URLs are checked here too.
import { ConfigError } from "../errors.js";

/** The URL components a blocklist rule can name. */
export type UrlComponent =
  | "scheme"
  | "host"
  | "netloc"
  | "hostname"
  | "port"
  | "path"
  | "query"
  | "fragment"
  | "username"
  | "password";

/** One rule: every named component must match for the URL to be blocked. */
export type UrlBlocklistRule = Partial<Record<UrlComponent, string>>;

const COMPONENTS: ReadonlySet<string> = new Set<UrlComponent>([
  "scheme",
  "host",
  "netloc",
  "hostname",
  "port",
  "path",
  "query",
  "fragment",
  "username",
  "password",
]);

function globToRegExp(glob: string): RegExp {
  let source = "";
  for (const ch of glob) {
    if (ch === "*") source += ".*";
    else if (ch === "?") source += ".";
    else source += ch.replace(/[.+^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "is");
}

function component(url: URL, name: UrlComponent): string {
  switch (name) {
    case "scheme":
      return url.protocol.slice(0, -1);
    case "host":
    case "netloc":
      return url.host;
    case "hostname":
      return url.hostname;
    case "port":
      return url.port || (url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "");
    case "path":
      return url.pathname;
    case "query":
      return url.search.slice(1);
    case "fragment":
      return url.hash.slice(1);
    case "username":
      return decodeURIComponent(url.username);
    case "password":
      return decodeURIComponent(url.password);
  }
}

/** A compiled blocklist. */
export interface UrlBlocklist {
  /** True when some rule matches every component it names. */
  isBlocked(url: string | URL): boolean;
}

/**
 * Compiles blocklist rules, validating component names and patterns (a bad rule throws a
 * `ConfigError` naming `urlBlocklist[i].component`).
 *
 * @example
 * ```ts
 * const blocklist = compileUrlBlocklist([
 *   { hostname: "*.internal.example" },
 *   { scheme: "http", hostname: "^(www\\.)?example\\.com$", path: "/private/*" },
 * ]);
 * blocklist.isBlocked("https://db.internal.example/"); // true
 * ```
 */
export function compileUrlBlocklist(rules: readonly UrlBlocklistRule[] = []): UrlBlocklist {
  if (!Array.isArray(rules)) {
    throw new ConfigError(
      `compileUrlBlocklist: expected options.urlBlocklist to be an array of rules but received ${typeof rules}`,
      { option: "urlBlocklist" },
    );
  }
  const compiled = rules.map((rule: UrlBlocklistRule, i) => {
    if (rule === null || typeof rule !== "object" || Object.keys(rule).length === 0) {
      throw new ConfigError(
        `compileUrlBlocklist: expected urlBlocklist[${i}] to be an object naming at least one URL component`,
        { option: `urlBlocklist[${i}]` },
      );
    }
    return Object.entries(rule).map(([name, pattern]) => {
      if (!COMPONENTS.has(name)) {
        throw new ConfigError(
          `Unknown URL component urlBlocklist[${i}].${name}; expected one of ${[...COMPONENTS].join(", ")}`,
          { option: `urlBlocklist[${i}].${name}` },
        );
      }
      if (typeof pattern !== "string") {
        throw new ConfigError(
          `compileUrlBlocklist: expected urlBlocklist[${i}].${name} to be a glob or ^regex string but received ${typeof pattern}`,
          { option: `urlBlocklist[${i}].${name}` },
        );
      }
      let re: RegExp;
      try {
        re = pattern.startsWith("^") ? new RegExp(pattern) : globToRegExp(pattern);
      } catch (error) {
        throw new ConfigError(
          `Invalid regular expression in urlBlocklist[${i}].${name}: ${(error as Error).message}`,
          { option: `urlBlocklist[${i}].${name}`, cause: error },
        );
      }
      return { name: name as UrlComponent, re };
    });
  });
  return {
    isBlocked(input: string | URL): boolean {
      let url: URL;
      try {
        url = new URL(input);
      } catch {
        return true;
      }
      return compiled.some((rule) => rule.every(({ name, re }) => re.test(component(url, name))));
    },
  };
}
