// Synapse-compatible admin routes on single media, hashes, rooms and dates, under
// /_synapse/admin/v1 (callers need `isAdmin`). Each action is audited (admin-audit.ts).
import { MediaError } from "../../errors.js";
import type { MediaRecord } from "../../metadata/types.js";
import { formatMxc, type MxcUri } from "../../mxc.js";
import { auditAdmin } from "../admin-audit.js";
import { beforeTsOf, roomIdOf, sha256Of, userIdOf } from "../admin-params.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { GET } from "../target.js";
import { mediaIdOf, mediaIdsOf, optionalBool, optionalInt, requiredInt } from "../request.js";
import { sendJson } from "../response.js";

/** The kit does not record who quarantined media, only that it is. */
const QUARANTINED_BY_UNKNOWN = "unknown";

/** Synapse's `media_info` of a record. @internal */
export function mediaInfo(record: MediaRecord, local: boolean): Record<string, unknown> {
  return {
    media_origin: local ? null : record.origin,
    user_id: record.uploader,
    media_id: record.mediaId,
    media_type: record.contentType,
    media_length: record.size,
    upload_name: record.filename,
    created_ts: record.createdAt,
    filesystem_id: local ? null : record.location,
    url_cache: null,
    last_access_ts: record.lastAccessAt,
    quarantined_by: record.quarantined ? QUARANTINED_BY_UNKNOWN : null,
    authenticated: true,
    safe_from_quarantine: local ? record.protected : null,
    sha256: record.sha256,
  };
}

function setQuarantine(value: boolean) {
  return async (request: MediaRequest): Promise<void> => {
    const mxc = mediaIdsOf(request.params);
    const { affected } = await request.settings.repo.quarantine({ mxc }, value);
    auditAdmin(
      request,
      value ? "admin_quarantine" : "admin_unquarantine",
      formatMxc(mxc),
      affected,
    );
    sendJson(request.res, 200, {});
  };
}

function setQuarantineBySha256(value: boolean) {
  return async (request: MediaRequest): Promise<void> => {
    const sha256 = sha256Of(request.params);
    const { affected } = await request.settings.repo.quarantine({ sha256 }, value);
    auditAdmin(
      request,
      value ? "admin_quarantine_sha256" : "admin_unquarantine_sha256",
      sha256,
      affected,
    );
    sendJson(
      request.res,
      200,
      value ? { num_quarantined: affected } : { num_unquarantined: affected },
    );
  };
}

async function quarantineUser(request: MediaRequest): Promise<void> {
  const uploader = userIdOf(request.params);
  const { affected } = await request.settings.repo.quarantine({ uploader });
  auditAdmin(request, "admin_quarantine_user", uploader, affected);
  sendJson(request.res, 200, { num_quarantined: affected });
}

async function quarantineRoom(request: MediaRequest): Promise<void> {
  const roomId = roomIdOf(request.params);
  const { roomMedia } = request.settings.admin;
  if (!roomMedia) {
    // The route exists but this deployment cannot answer it: 501, not a 404 that reads as a typo.
    throw new MediaError(
      "M_UNRECOGNIZED",
      "This media server does not know rooms: its embedder has not configured admin.roomMedia",
      { status: 501 },
    );
  }
  const mxcs: MxcUri[] = [...(await roomMedia(roomId))];
  const { affected } = await request.settings.repo.quarantine({ mxcs });
  auditAdmin(request, "admin_quarantine_room", roomId, affected);
  sendJson(request.res, 200, { num_quarantined: affected });
}

async function showMedia(request: MediaRequest): Promise<void> {
  const { origin, mediaId } = mediaIdsOf(request.params);
  const { repo } = request.settings;
  const record = await repo.admin.info(origin, mediaId);
  auditAdmin(request, "admin_media_info", formatMxc({ origin, mediaId }), 1);
  sendJson(request.res, 200, { media_info: mediaInfo(record, repo.isLocal(origin)) });
}

function setProtection(value: boolean) {
  return async (request: MediaRequest): Promise<void> => {
    const mediaId = mediaIdOf(request.params);
    // As Synapse: protection is of local media, named by media ID alone.
    const origin = request.settings.repo.serverNames[0]!;
    await request.settings.repo.admin.setProtected(origin, mediaId, value);
    auditAdmin(
      request,
      value ? "admin_protect" : "admin_unprotect",
      formatMxc({ origin, mediaId }),
      1,
    );
    sendJson(request.res, 200, {});
  };
}

async function deleteMedia(request: MediaRequest): Promise<void> {
  const { origin, mediaId } = mediaIdsOf(request.params);
  if (!request.settings.repo.isLocal(origin)) {
    throw new MediaError("M_INVALID_PARAM", "Can only delete local media (server_name)");
  }
  if (!(await request.settings.repo.delete(origin, mediaId))) {
    throw new MediaError("M_NOT_FOUND", "Media not found");
  }
  auditAdmin(request, "admin_delete", formatMxc({ origin, mediaId }), 1);
  sendJson(request.res, 200, { deleted_media: [mediaId], total: 1 });
}

async function deleteLocal(request: MediaRequest): Promise<void> {
  const { repo, admin } = request.settings;
  if (request.params.serverName !== undefined && !repo.isLocal(request.params.serverName)) {
    throw new MediaError("M_INVALID_PARAM", "Can only delete local media (server_name)");
  }
  const before = beforeTsOf(request.query);
  const sizeGt = optionalInt(request.query, "size_gt") ?? 0;
  const keepProfiles = optionalBool(request.query, "keep_profiles") ?? true;
  if (keepProfiles && !admin.profileMedia) {
    throw new MediaError(
      "M_INVALID_PARAM",
      "keep_profiles=true needs to know avatars, and this server's embedder has not configured " +
        "admin.profileMedia: send keep_profiles=false to delete avatars too",
    );
  }
  const { deleted } = await repo.admin.expireLocal({
    before,
    sizeGt,
    keep: keepProfiles ? admin.profileMedia : undefined,
    signal: request.signal,
  });
  auditAdmin(
    request,
    "admin_delete_local",
    `before_ts=${before}&size_gt=${sizeGt}`,
    deleted.length,
  );
  sendJson(request.res, 200, {
    deleted_media: deleted.map((m) => m.mediaId),
    total: deleted.length,
  });
}

async function purgeRemote(request: MediaRequest): Promise<void> {
  const before = requiredInt(request.query, "before_ts");
  const { deleted } = await request.settings.repo.purgeRemote(before);
  auditAdmin(request, "admin_purge_remote", `before_ts=${before}`, deleted);
  sendJson(request.res, 200, { deleted });
}

/** @internal */
export const adminRoutes: readonly MediaRoute[] = [
  {
    name: "admin_quarantine",
    apis: ["admin"],
    path: "media/quarantine/:serverName/:mediaId",
    methods: ["POST"],
    handle: setQuarantine(true),
  },
  {
    name: "admin_unquarantine",
    apis: ["admin"],
    path: "media/unquarantine/:serverName/:mediaId",
    methods: ["POST"],
    handle: setQuarantine(false),
  },
  {
    name: "admin_quarantine_sha256",
    apis: ["admin"],
    path: "media/sha256/:sha256/quarantine",
    methods: ["POST"],
    handle: setQuarantineBySha256(true),
  },
  {
    name: "admin_unquarantine_sha256",
    apis: ["admin"],
    path: "media/sha256/:sha256/unquarantine",
    methods: ["POST"],
    handle: setQuarantineBySha256(false),
  },
  {
    name: "admin_quarantine_user",
    apis: ["admin"],
    path: "user/:userId/media/quarantine",
    methods: ["POST"],
    handle: quarantineUser,
  },
  {
    name: "admin_quarantine_room",
    apis: ["admin"],
    path: "room/:roomId/media/quarantine",
    methods: ["POST"],
    handle: quarantineRoom,
  },
  {
    name: "admin_protect",
    apis: ["admin"],
    path: "media/protect/:mediaId",
    methods: ["POST"],
    handle: setProtection(true),
  },
  {
    name: "admin_unprotect",
    apis: ["admin"],
    path: "media/unprotect/:mediaId",
    methods: ["POST"],
    handle: setProtection(false),
  },
  {
    name: "admin_delete_local",
    apis: ["admin"],
    path: "media/delete",
    methods: ["POST"],
    handle: deleteLocal,
  },
  {
    // Synapse's deprecated form, naming the (local) server.
    name: "admin_delete_local",
    apis: ["admin"],
    path: "media/:serverName/delete",
    methods: ["POST"],
    handle: deleteLocal,
  },
  {
    name: "admin_media_info",
    apis: ["admin"],
    path: "media/:serverName/:mediaId",
    methods: GET,
    handle: showMedia,
  },
  {
    name: "admin_delete",
    apis: ["admin"],
    path: "media/:serverName/:mediaId",
    methods: ["DELETE"],
    handle: deleteMedia,
  },
  {
    name: "admin_purge_remote",
    apis: ["admin"],
    path: "purge_media_cache",
    methods: ["POST"],
    handle: purgeRemote,
  },
];
