// Synapse-compatible admin routes on a user's media (list, delete, statistics) and the kit's
// export of a user's media as a tar stream.
import { pipeline } from "node:stream/promises";
import { MediaError } from "../../errors.js";
import { auditAdmin } from "../admin-audit.js";
import { createPack, packUserMedia } from "../admin-export.js";
import { statisticsQueryOf, uploaderQueryOf, userIdOf } from "../admin-params.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { mediaHeaders, sendJson } from "../response.js";
import { GET } from "../target.js";

/** The user of the path, who must be one of ours (as Synapse: "Can only look up local users"). */
function localUserOf(request: MediaRequest): string {
  const userId = userIdOf(request.params);
  if (!request.settings.repo.isLocal(userId.slice(userId.indexOf(":") + 1))) {
    throw new MediaError("M_INVALID_PARAM", `Can only look up local users (user_id ${userId})`);
  }
  return userId;
}

/** Synapse's `users/{userId}/media` list items carry no origin or uploader. */
function userMediaItem(record: {
  mediaId: string;
  createdAt: number;
  lastAccessAt: number;
  size: number;
  contentType: string;
  quarantined: boolean;
  protected: boolean;
  filename: string | null;
}) {
  return {
    media_id: record.mediaId,
    created_ts: record.createdAt,
    last_access_ts: record.lastAccessAt,
    media_length: record.size,
    media_type: record.contentType,
    quarantined_by: record.quarantined ? "unknown" : null,
    safe_from_quarantine: record.protected,
    upload_name: record.filename,
  };
}

async function listUserMedia(request: MediaRequest): Promise<void> {
  const uploader = localUserOf(request);
  const query = uploaderQueryOf(request.query);
  const page = await request.settings.repo.admin.listByUploader(uploader, query);
  auditAdmin(request, "admin_user_media", uploader, page.items.length);
  const body: Record<string, unknown> = {
    media: page.items.map(userMediaItem),
    total: page.total,
  };
  if (query.offset + page.items.length < page.total) {
    body.next_token = query.offset + page.items.length;
  }
  sendJson(request.res, 200, body);
}

async function deleteUserMedia(request: MediaRequest): Promise<void> {
  const uploader = localUserOf(request);
  const { repo } = request.settings;
  // As Synapse: one page in the asked order, deleted; the caller repeats until total is 0.
  const page = await repo.admin.listByUploader(uploader, uploaderQueryOf(request.query));
  const local = page.items.filter((r) => r.kind === "local" || r.kind === "preview");
  const { deleted } = await repo.admin.deleteMany(local, { signal: request.signal });
  auditAdmin(request, "admin_delete_user_media", uploader, deleted.length);
  sendJson(request.res, 200, {
    deleted_media: deleted.map((m) => m.mediaId),
    total: deleted.length,
  });
}

async function userMediaStatistics(request: MediaRequest): Promise<void> {
  const query = statisticsQueryOf(request.query);
  const page = await request.settings.repo.admin.statistics(query);
  auditAdmin(request, "admin_user_media_statistics", request.query.toString(), page.items.length);
  const offset = query.offset ?? 0;
  const body: Record<string, unknown> = {
    users: page.items.map((u) => ({
      user_id: u.userId,
      displayname: null,
      media_count: u.count,
      media_length: u.bytes,
    })),
    total: page.total,
  };
  if (offset + page.items.length < page.total) body.next_token = offset + page.items.length;
  sendJson(request.res, 200, body);
}

async function exportUserMedia(request: MediaRequest): Promise<void> {
  const uploader = localUserOf(request);
  const { res } = request;
  const pack = await createPack();
  res.writeHead(
    200,
    mediaHeaders({
      contentType: "application/x-tar",
      cacheControl: "no-store",
      extra: { "Content-Disposition": 'attachment; filename="media-export.tar"' },
    }),
  );
  const sending = pipeline(pack, res, { signal: request.signal });
  const packing = packUserMedia(request.settings.repo, uploader, pack, request.signal);
  try {
    const [files] = await Promise.all([packing, sending]);
    auditAdmin(request, "admin_export_user_media", uploader, files);
  } catch (error) {
    pack.destroy();
    // Both settle before the error is answered (by closing the connection: headers are out).
    await Promise.allSettled([packing, sending]);
    throw error;
  }
}

/** @internal */
export const adminUserRoutes: readonly MediaRoute[] = [
  {
    name: "admin_user_media",
    apis: ["admin"],
    path: "users/:userId/media",
    methods: GET,
    handle: listUserMedia,
  },
  {
    name: "admin_delete_user_media",
    apis: ["admin"],
    path: "users/:userId/media",
    methods: ["DELETE"],
    handle: deleteUserMedia,
  },
  {
    name: "admin_export_user_media",
    apis: ["admin"],
    path: "users/:userId/media/export",
    methods: ["GET"],
    handle: exportUserMedia,
  },
  {
    name: "admin_user_media_statistics",
    apis: ["admin"],
    path: "statistics/users/media",
    methods: GET,
    handle: userMediaStatistics,
  },
];
