// Synapse-compatible admin routes under /_synapse/admin/v1 (callers need `isAdmin`).
import { MediaError } from "../../errors.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { mediaIdsOf, requiredInt } from "../request.js";
import { sendJson } from "../response.js";

function setQuarantine(value: boolean) {
  return async (request: MediaRequest): Promise<void> => {
    const mxc = mediaIdsOf(request.params);
    await request.settings.repo.quarantine({ mxc }, value);
    sendJson(request.res, 200, {});
  };
}

async function deleteMedia(request: MediaRequest): Promise<void> {
  const { origin, mediaId } = mediaIdsOf(request.params);
  if (!(await request.settings.repo.delete(origin, mediaId))) {
    throw new MediaError("M_NOT_FOUND", "Media not found");
  }
  sendJson(request.res, 200, { deleted_media: [mediaId], total: 1 });
}

async function purgeRemote(request: MediaRequest): Promise<void> {
  const before = requiredInt(request.query, "before_ts");
  const { deleted } = await request.settings.repo.purgeRemote(before);
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
