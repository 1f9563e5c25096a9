// Roles: which part of the media API a process of a deployment serves, so that a reverse
// proxy can route each path to its own pool of processes.
import { ConfigError } from "../index.js";
import type { MediaRouteName } from "../http/index.js";

/**
 * What a process of the standalone server does. Every role but `background` serves routes;
 * `background` is the maintenance a deployment runs in one place (the leader of its lease).
 */
export type MediaServerRole =
  "upload" | "download" | "thumbnail" | "preview" | "federation" | "admin" | "background";

/** Every role, in the order a resolved config lists them (the default: all of them). @internal */
export const ALL_ROLES: readonly MediaServerRole[] = [
  "upload",
  "download",
  "thumbnail",
  "preview",
  "federation",
  "admin",
  "background",
];

/**
 * The roles that serve each route. `config` (`m.upload.size`) is asked by clients before an
 * upload and by some before showing media, so both pools answer it.
 */
const ROUTE_ROLES: Readonly<Record<MediaRouteName, readonly MediaServerRole[]>> = {
  config: ["upload", "download"],
  // MSC4034's usage sits beside the limits `config` reports.
  usage: ["upload", "download"],
  upload: ["upload"],
  create: ["upload"],
  upload_pending: ["upload"],
  download: ["download"],
  thumbnail: ["thumbnail"],
  preview_url: ["preview"],
  federation_download: ["federation"],
  federation_thumbnail: ["federation"],
  admin_quarantine: ["admin"],
  admin_unquarantine: ["admin"],
  admin_delete: ["admin"],
  admin_purge_remote: ["admin"],
  admin_media_info: ["admin"],
  admin_protect: ["admin"],
  admin_unprotect: ["admin"],
  admin_quarantine_user: ["admin"],
  admin_quarantine_room: ["admin"],
  admin_quarantine_sha256: ["admin"],
  admin_unquarantine_sha256: ["admin"],
  admin_delete_local: ["admin"],
  admin_user_media: ["admin"],
  admin_delete_user_media: ["admin"],
  admin_export_user_media: ["admin"],
  admin_user_media_statistics: ["admin"],
};

/** `roles` of the config: a non-empty list of known roles; absent is every role. @internal */
export function resolveRoles(value: unknown): MediaServerRole[] {
  if (value === undefined || value === null) return [...ALL_ROLES];
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(
      `Expected a non-empty list of roles (${ALL_ROLES.join(", ")}) for roles but received ${JSON.stringify(value)}`,
      { option: "roles" },
    );
  }
  const chosen = new Set<MediaServerRole>();
  value.forEach((role: unknown, i) => {
    const key = `roles[${i}]`;
    if (!ALL_ROLES.includes(role as MediaServerRole)) {
      throw new ConfigError(
        `${key}: unknown role ${JSON.stringify(role)} (expected one of ${ALL_ROLES.join(", ")})`,
        { option: key },
      );
    }
    if (chosen.has(role as MediaServerRole)) {
      throw new ConfigError(`${key}: role ${JSON.stringify(role)} is listed twice`, {
        option: key,
      });
    }
    chosen.add(role as MediaServerRole);
  });
  return ALL_ROLES.filter((role) => chosen.has(role));
}

/** The media handler's `routes` option of a process with these roles. @internal */
export function routesOfRoles(
  roles: readonly MediaServerRole[],
): (route: MediaRouteName) => boolean {
  const mine = new Set(roles);
  return (route) => ROUTE_ROLES[route].some((role) => mine.has(role));
}
