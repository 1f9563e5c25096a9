// Route matching on the raw request target: segments are split before percent-decoding, so
// "%2F" stays inside one segment and "../" is never resolved against anything.

/** Names of the routes the media handler serves. */
export type MediaRouteName =
  | "config"
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
  | "federation_download"
  | "federation_thumbnail";

/** A request matched to a route (ids are decoded but not yet validated). */
export interface MatchedRoute {
  name: MediaRouteName;
  /** Which API family: authenticated client v1, legacy `/_matrix/media`, admin or federation. */
  family: "client" | "legacy" | "admin" | "federation";
  methods: readonly string[];
  serverName?: string;
  mediaId?: string;
  fileName?: string;
}

/** A parsed request target. */
export interface ParsedTarget {
  family: "client" | "legacy" | "admin" | "federation";
  /** Decoded segments after the family prefix; `undefined` when a segment does not decode. */
  segments: string[] | undefined;
  query: URLSearchParams;
}

const GET = ["GET", "HEAD"] as const;

/**
 * Splits a request target into the media API family and decoded path segments.
 * Federation routes are recognised only when `federation` is true.
 */
export function parseTarget(target: string, federation = false): ParsedTarget | undefined {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? "" : target.slice(q + 1));
  let family: ParsedTarget["family"];
  let rest: string;
  if (path.startsWith("/_matrix/client/v1/media/")) {
    family = "client";
    rest = path.slice("/_matrix/client/v1/media/".length);
  } else if (path.startsWith("/_matrix/media/")) {
    family = "legacy";
    const after = path.slice("/_matrix/media/".length);
    const slash = after.indexOf("/");
    const version = slash === -1 ? after : after.slice(0, slash);
    // Unknown versions are still "ours" (so they get M_UNRECOGNIZED), with no segments.
    rest = ["r0", "v1", "v3"].includes(version) && slash !== -1 ? after.slice(slash + 1) : "\u0000";
  } else if (
    path.startsWith("/_synapse/admin/v1/media/") ||
    path === "/_synapse/admin/v1/purge_media_cache"
  ) {
    family = "admin";
    rest = path.slice("/_synapse/admin/v1/".length);
  } else if (federation && path.startsWith("/_matrix/federation/v1/media/")) {
    family = "federation";
    rest = path.slice("/_matrix/federation/v1/media/".length);
  } else {
    return undefined;
  }
  let segments: string[] | undefined;
  try {
    segments = rest.split("/").map((s) => decodeURIComponent(s));
  } catch {
    segments = undefined;
  }
  return { family, segments, query };
}

/** Matches a parsed target to a route, ignoring the method. */
export function matchRoute(parsed: ParsedTarget): MatchedRoute | undefined {
  const s = parsed.segments;
  if (!s) return undefined;
  const [a, b, c, d] = s;
  const n = s.length;
  if (parsed.family === "admin") {
    if (n === 1 && a === "purge_media_cache")
      return { name: "admin_purge_remote", family: "admin", methods: ["POST"] };
    if (a !== "media") return undefined;
    if (n === 4 && (b === "quarantine" || b === "unquarantine")) {
      return {
        name: b === "quarantine" ? "admin_quarantine" : "admin_unquarantine",
        family: "admin",
        methods: ["POST"],
        serverName: c!,
        mediaId: d!,
      };
    }
    if (n === 3)
      return {
        name: "admin_delete",
        family: "admin",
        methods: ["DELETE"],
        serverName: b!,
        mediaId: c!,
      };
    return undefined;
  }
  if (parsed.family === "federation") {
    if (n === 2 && (a === "download" || a === "thumbnail")) {
      return {
        name: a === "download" ? "federation_download" : "federation_thumbnail",
        family: "federation",
        methods: GET,
        mediaId: b!,
      };
    }
    return undefined;
  }
  const family = parsed.family;
  if (n === 1 && a === "config") return { name: "config", family, methods: GET };
  if (n === 1 && a === "preview_url") return { name: "preview_url", family, methods: GET };
  if (a === "download" && (n === 3 || n === 4)) {
    return {
      name: "download",
      family,
      methods: GET,
      serverName: b!,
      mediaId: c!,
      ...(n === 4 ? { fileName: d! } : {}),
    };
  }
  if (a === "thumbnail" && n === 3) {
    return { name: "thumbnail", family, methods: GET, serverName: b!, mediaId: c! };
  }
  if (family === "legacy") {
    if (n === 1 && a === "upload") return { name: "upload", family, methods: ["POST"] };
    if (n === 1 && a === "create") return { name: "create", family, methods: ["POST"] };
    if (n === 3 && a === "upload") {
      return { name: "upload_pending", family, methods: ["PUT"], serverName: b!, mediaId: c! };
    }
  }
  return undefined;
}
