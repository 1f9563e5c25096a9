// GET/HEAD …/thumbnail/{serverName}/{mediaId}: always an inline image from the repository.
import { MediaError } from "../../errors.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { chargeDownload } from "../download-limit.js";
import { etagMatches } from "../headers.js";
import { mediaIdsOf, parseThumbnailQuery } from "../request.js";
import { mediaHeaders, sendBody, thumbnailEntity } from "../response.js";
import { GET } from "../target.js";
import { remoteAllowed } from "./download.js";

async function thumbnail(request: MediaRequest): Promise<void> {
  const { req, res, settings, api } = request;
  const { repo, cacheControl } = settings;
  const { origin, mediaId } = mediaIdsOf(request.params);
  const query = parseThumbnailQuery(request.query);
  const { signal } = request;
  const allowRemote = remoteAllowed(request);
  if (api === "legacy" && request.user === undefined && settings.freezes) {
    const lookup = { timeoutMs: query.timeoutMs, signal, allowRemote };
    const record = await repo.lookup(origin, mediaId, lookup);
    if (settings.isFrozen(record)) throw new MediaError("M_NOT_FOUND", "Media not found");
  }
  const thumb = await repo.thumbnail(origin, mediaId, { ...query, signal, allowRemote });
  const entity = thumbnailEntity(thumb);
  if (etagMatches(req.headers["if-none-match"], entity.etag)) {
    return sendBody(req, res, 304, mediaHeaders({ entity, cacheControl }));
  }
  const headers = mediaHeaders({ entity, cacheControl, size: thumb.buffer.length });
  if (req.method !== "HEAD") await chargeDownload(request, "thumbnail", thumb.buffer.length);
  return sendBody(req, res, 200, headers, { buffer: thumb.buffer });
}

/** @internal */
export const thumbnailRoutes: readonly MediaRoute[] = [
  {
    name: "thumbnail",
    apis: ["client", "legacy"],
    path: "thumbnail/:serverName/:mediaId",
    methods: GET,
    anonymousOn: ["legacy"],
    handle: thumbnail,
  },
];
