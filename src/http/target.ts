// Route matching on the raw request target: segments are split before percent-decoding, so
// "%2F" stays inside one segment and "../" is never resolved against anything. Only syntax
// is checked here; what the captured IDs may be is checked by the routes.

/** Names of the routes the media handler serves. */
export type MediaRouteName =
  | "config"
  | "usage"
  | "download"
  | "thumbnail"
  | "preview_url"
  | "upload"
  | "create"
  | "upload_pending"
  | "admin_quarantine"
  | "admin_unquarantine"
  | "admin_delete"
  | "admin_purge_remote"
  | "admin_media_info"
  | "admin_protect"
  | "admin_unprotect"
  | "admin_quarantine_user"
  | "admin_quarantine_room"
  | "admin_quarantine_sha256"
  | "admin_unquarantine_sha256"
  | "admin_delete_local"
  | "admin_user_media"
  | "admin_delete_user_media"
  | "admin_export_user_media"
  | "admin_user_media_statistics"
  | "federation_download"
  | "federation_thumbnail";

/**
 * Which API a path belongs to: authenticated client v1, legacy `/_matrix/media`, Synapse
 * admin, federation, or MSC4034's unstable `/_matrix/media/unstable/org.matrix.msc4034`.
 * @internal
 */
export type MediaApi = "client" | "legacy" | "admin" | "federation" | "msc4034";

/**
 * Where a route lives: the APIs it is served under and its path after the API prefix, as
 * `/`-separated segments that are literals or captures (`:serverName`, `:mediaId`,
 * `:fileName?`; a `?` capture may only be last and may be absent).
 * @internal
 */
export interface RoutePath {
  name: MediaRouteName;
  apis: readonly MediaApi[];
  path: string;
  methods: readonly string[];
}

/**
 * The IDs a request target names (decoded but not yet validated).
 * @internal
 */
export interface RouteParams {
  serverName?: string;
  mediaId?: string;
  fileName?: string;
  userId?: string;
  roomId?: string;
  sha256?: string;
}

/**
 * A parsed request target.
 * @internal
 */
export interface ParsedTarget {
  api: MediaApi;
  /** Decoded segments after the API prefix; `undefined` when a segment does not decode. */
  segments: string[] | undefined;
  query: URLSearchParams;
}

/** @internal */
export const GET = ["GET", "HEAD"] as const;

const LEGACY_VERSIONS = new Set(["r0", "v1", "v3"]);

/**
 * The admin paths that are ours; other Synapse admin paths (`users/{id}/devices`...) fall
 * through to whatever else the server mounts.
 */
const ADMIN_PATHS: readonly RegExp[] = [
  /^media\//,
  /^purge_media_cache$/,
  /^users\/[^/]*\/media(\/export)?$/,
  /^user\/[^/]*\/media\/quarantine$/,
  /^room\/[^/]*\/media\/quarantine$/,
  /^statistics\/users\/media$/,
];

/**
 * The path prefixes the handler owns. A path under one of them is answered (404 when no route
 * matches); any other path resolves `false` so a framework can fall through.
 */
const API_PREFIXES: ReadonlyArray<{
  api: MediaApi;
  prefix: string;
  /** The part after `prefix` that holds the route's segments, or `undefined`: not ours. */
  rest: (after: string) => string | undefined;
}> = [
  { api: "client", prefix: "/_matrix/client/v1/media/", rest: (after) => after },
  // Before the legacy prefix, which would take "unstable" for an unknown version.
  {
    api: "msc4034",
    prefix: "/_matrix/media/unstable/org.matrix.msc4034/",
    rest: (after) => after,
  },
  {
    api: "legacy",
    prefix: "/_matrix/media/",
    rest: (after) => {
      const slash = after.indexOf("/");
      const version = slash === -1 ? after : after.slice(0, slash);
      // Unknown versions are still ours (so they get M_UNRECOGNIZED), with no segments.
      return LEGACY_VERSIONS.has(version) && slash !== -1 ? after.slice(slash + 1) : "\u0000";
    },
  },
  {
    api: "admin",
    prefix: "/_synapse/admin/v1/",
    rest: (after) => (ADMIN_PATHS.some((path) => path.test(after)) ? after : undefined),
  },
  { api: "federation", prefix: "/_matrix/federation/v1/media/", rest: (after) => after },
];

/**
 * Splits a request target into its media API and decoded path segments; `undefined` when the
 * path is not under a media API in `apis`.
 * @internal
 */
export function parseTarget(target: string, apis: ReadonlySet<MediaApi>): ParsedTarget | undefined {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  for (const { api, prefix, rest: restOf } of API_PREFIXES) {
    if (!apis.has(api) || !path.startsWith(prefix)) continue;
    const rest = restOf(path.slice(prefix.length));
    if (rest === undefined) continue;
    const query = new URLSearchParams(q === -1 ? "" : target.slice(q + 1));
    let segments: string[] | undefined;
    try {
      segments = rest.split("/").map((s) => decodeURIComponent(s));
    } catch {
      segments = undefined;
    }
    return { api, segments, query };
  }
  return undefined;
}

type Segment =
  | { kind: "literal"; value: string }
  | { kind: "capture"; name: keyof RouteParams; optional: boolean };

/**
 * A route with its path split into segments once, at construction.
 * @internal
 */
export interface CompiledRoute<R extends RoutePath> {
  route: R;
  segments: readonly Segment[];
  /** Segments that must be present. */
  required: number;
}

const CAPTURES = new Set<string>([
  "serverName",
  "mediaId",
  "fileName",
  "userId",
  "roomId",
  "sha256",
]);

/**
 * Routes grouped by API, with their paths split into segments once, at construction.
 * @internal
 */
export type RouteTable<R extends RoutePath> = ReadonlyMap<MediaApi, readonly CompiledRoute<R>[]>;

/** @internal */
export function compileRoutes<R extends RoutePath>(routes: readonly R[]): RouteTable<R> {
  const table = new Map<MediaApi, CompiledRoute<R>[]>();
  for (const route of routes) {
    const segments = route.path.split("/").map((part, index, all): Segment => {
      if (!part.startsWith(":")) return { kind: "literal", value: part };
      const optional = part.endsWith("?");
      const name = part.slice(1, optional ? -1 : undefined);
      if (!CAPTURES.has(name) || (optional && index !== all.length - 1)) {
        throw new Error(`Bad route path ${route.path}`);
      }
      return { kind: "capture", name: name as keyof RouteParams, optional };
    });
    const required = segments.filter((s) => s.kind === "literal" || !s.optional).length;
    for (const api of route.apis) {
      const list = table.get(api) ?? [];
      list.push({ route, segments, required });
      table.set(api, list);
    }
  }
  return table;
}

/**
 * Matches a parsed target to a route: the first whose path matches and that takes `method`,
 * else the first whose path matches (which then answers 405).
 * @internal
 */
export function matchRoute<R extends RoutePath>(
  parsed: ParsedTarget,
  table: RouteTable<R>,
  method?: string,
): { route: R; params: RouteParams; allow: readonly string[] } | undefined {
  let fallback: { route: R; params: RouteParams } | undefined;
  const allow = new Set<string>();
  for (const found of pathMatches(parsed, table)) {
    if (method === undefined || found.route.methods.includes(method)) {
      return { ...found, allow: found.route.methods };
    }
    fallback ??= found;
    for (const m of found.route.methods) allow.add(m);
  }
  // The path is known but not with this method: `Allow` lists what every route on it takes.
  return fallback && { ...fallback, allow: [...allow] };
}

function* pathMatches<R extends RoutePath>(
  parsed: ParsedTarget,
  table: RouteTable<R>,
): Generator<{ route: R; params: RouteParams }> {
  const given = parsed.segments;
  if (!given) return;
  for (const { route, segments, required } of table.get(parsed.api) ?? []) {
    if (given.length < required || given.length > segments.length) continue;
    const params: RouteParams = {};
    let matched = true;
    for (let i = 0; i < given.length; i++) {
      const segment = segments[i]!;
      if (segment.kind === "literal") {
        if (segment.value !== given[i]) {
          matched = false;
          break;
        }
      } else {
        params[segment.name] = given[i]!;
      }
    }
    if (matched) yield { route, params };
  }
}
