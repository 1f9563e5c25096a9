// POST …/upload, POST …/create and PUT …/upload/{serverName}/{mediaId} (legacy API only).
// The body is streamed into the repository, which owns the size limit: a declared
// Content-Length over it is refused before a byte is read.
import type { MediaRoute, MediaRequest } from "../context.js";
import { declaredLength, mediaIdsOf } from "../request.js";
import { sendJson } from "../response.js";

function uploadOptions(request: MediaRequest) {
  const { req } = request;
  return {
    contentType: req.headers["content-type"],
    filename: request.query.get("filename") ?? undefined,
    uploader: request.requiredUser.userId,
    contentLength: declaredLength(req),
    signal: request.signal,
  };
}

/** The request body; reading stops early without destroying it, so an error still reaches the client. */
function bodyOf(request: MediaRequest): AsyncIterable<Uint8Array> {
  return request.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
}

async function upload(request: MediaRequest): Promise<void> {
  const options = uploadOptions(request);
  const result = await request.settings.repo.upload(bodyOf(request), options);
  sendJson(request.res, 200, { content_uri: result.mxc });
}

async function uploadPending(request: MediaRequest): Promise<void> {
  const { repo } = request.settings;
  const { origin, mediaId } = mediaIdsOf(request.params);
  // Refuse before reading a byte: a second PUT is a 409 even with an empty body.
  await repo.checkPending(origin, mediaId, request.requiredUser.userId);
  const options = uploadOptions(request);
  await repo.uploadPending(origin, mediaId, bodyOf(request), options);
  sendJson(request.res, 200, {});
}

async function create(request: MediaRequest): Promise<void> {
  const pending = await request.settings.repo.createPending(request.requiredUser.userId);
  sendJson(request.res, 200, { content_uri: pending.mxc, unused_expires_at: pending.expiresAt });
}

/** @internal */
export const uploadRoutes: readonly MediaRoute[] = [
  { name: "upload", apis: ["legacy"], path: "upload", methods: ["POST"], handle: upload },
  { name: "create", apis: ["legacy"], path: "create", methods: ["POST"], handle: create },
  {
    name: "upload_pending",
    apis: ["legacy"],
    path: "upload/:serverName/:mediaId",
    methods: ["PUT"],
    handle: uploadPending,
  },
];
