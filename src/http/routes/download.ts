// GET/HEAD …/download/{serverName}/{mediaId}[/{fileName}]: conditional and range requests,
// redirects to the datastore, and the frozen unauthenticated legacy route.
import { MediaError } from "../../errors.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { chargeDownload } from "../download-limit.js";
import { etagMatches, parseRange } from "../headers.js";
import { mediaIdsOf, optionalBool, optionalInt } from "../request.js";
import { mediaHeaders, recordEntity, sendBody, sendError } from "../response.js";
import { GET } from "../target.js";

/**
 * Whether a miss may be fetched over federation: not when the legacy `allow_remote=false`
 * says so, and not for an unauthenticated legacy request while legacy media is frozen (an
 * anonymous caller must not make this server fetch new media it would then refuse to serve).
 * @internal
 */
export function remoteAllowed(request: MediaRequest): boolean {
  if (request.api !== "legacy") return true;
  if (optionalBool(request.query, "allow_remote") === false) return false;
  return !(request.user === undefined && request.settings.freezes);
}

async function download(request: MediaRequest): Promise<void> {
  const { req, res, settings, query, api } = request;
  const { repo, cacheControl } = settings;
  const { origin, mediaId } = mediaIdsOf(request.params);
  const timeoutMs = optionalInt(query, "timeout_ms");
  const allowRedirect = optionalBool(query, "allow_redirect") === true;
  const { signal } = request;
  const allowRemote = remoteAllowed(request);
  const record = await repo.lookup(origin, mediaId, { timeoutMs, signal, allowRemote });
  if (api === "legacy" && request.user === undefined && settings.isFrozen(record)) {
    throw new MediaError(
      "M_NOT_FOUND",
      "Media not found (use the authenticated /_matrix/client/v1/media API)",
    );
  }
  const entity = recordEntity(record, request.params.fileName);
  if (etagMatches(req.headers["if-none-match"], entity.etag)) {
    return sendBody(req, res, 304, mediaHeaders({ entity, cacheControl, acceptRanges: true }));
  }
  const range = parseRange(req.headers.range, record.size);
  if (range.kind === "unsatisfiable") {
    return sendError(
      res,
      new MediaError("M_INVALID_PARAM", "Range not satisfiable", { status: 416 }),
      {
        "Content-Range": `bytes */${record.size}`,
      },
    );
  }
  const wanted = range.kind === "range" ? { start: range.start, end: range.end } : undefined;
  if (req.method === "HEAD") {
    const headers = mediaHeaders({
      entity,
      cacheControl,
      acceptRanges: true,
      size: record.size,
      range: wanted,
    });
    return sendBody(req, res, wanted ? 206 : 200, headers);
  }
  await chargeDownload(request, "download", wanted ? wanted.end - wanted.start + 1 : record.size);
  const body = await repo.read(record, { range: wanted, allowRedirect, signal });
  if (body.redirect) {
    const headers = mediaHeaders({ cacheControl: "no-store", extra: { Location: body.redirect } });
    return sendBody(req, res, 307, headers);
  }
  const headers = mediaHeaders({
    entity,
    cacheControl,
    acceptRanges: true,
    size: body.size,
    range: body.range,
  });
  return sendBody(req, res, body.range ? 206 : 200, headers, body);
}

/** @internal */
export const downloadRoutes: readonly MediaRoute[] = [
  {
    name: "download",
    apis: ["client", "legacy"],
    path: "download/:serverName/:mediaId/:fileName?",
    methods: GET,
    anonymousOn: ["legacy"],
    handle: download,
  },
];
