// POST …/upload, POST …/create and PUT …/upload/{serverName}/{mediaId} (legacy API only).
// The body is streamed into the repository, which owns the size limit: a declared
// Content-Length over it is refused before a byte is read. The handler bounds what one user
// holds: `maxConcurrentUploadsPerUser` uploads, each failing once its body idles.
import { MediaError } from "../../errors.js";
import type { MediaRoute, MediaRequest } from "../context.js";
import { idleBoundedBody } from "../guards.js";
import { canonicalContentType, safeFilename } from "../media-type.js";
import { declaredLength, mediaIdsOf } from "../request.js";
import { sendJson } from "../response.js";
import {
  admitUpload,
  quotaBoundedBody,
  userLimitExceeded,
  type UploadAllowance,
} from "../upload-quota.js";

/**
 * What a user over `limits.maxPendingPerUser` is told to wait: a reservation frees when one of
 * their uploads completes, which is usually soon.
 */
const PENDING_RETRY_MS = 30_000;

function uploadOptions(request: MediaRequest) {
  const { req } = request;
  return {
    // Parsed once here: the stored type, the datastore's type and the served headers agree.
    contentType: canonicalContentType(req.headers["content-type"]),
    filename: safeFilename(request.query.get("filename")),
    uploader: request.requiredUser.userId,
    contentLength: declaredLength(req),
    signal: request.signal,
  };
}

/** The quota check before a body is read: `undefined` when no quota is configured. */
function admitQuota(
  request: MediaRequest,
  declared: number | undefined,
): Promise<UploadAllowance> | undefined {
  const { quota, repo, logger } = request.settings;
  if (!quota) return undefined;
  return admitUpload(quota, repo, request.requiredUser.userId, declared, logger);
}

/**
 * Runs an upload in one of the user's upload slots, over a body that may not idle and may not
 * outgrow the user's quota; a stored upload is then counted in the user's windows.
 */
async function withUploadSlot<T extends { record: { size: number } }>(
  request: MediaRequest,
  run: (body: AsyncIterable<Uint8Array>) => Promise<T>,
): Promise<T> {
  const allowance = await admitQuota(request, declaredLength(request.req));
  const result = await inSlot(request, (body) => {
    if (allowance?.maxBytes === undefined) return run(body);
    return run(quotaBoundedBody(body, allowance.maxBytes, allowance.refuse));
  });
  await allowance?.record(result.record.size);
  return result;
}

async function inSlot<T>(
  request: MediaRequest,
  run: (body: AsyncIterable<Uint8Array>) => Promise<T>,
): Promise<T> {
  const { settings } = request;
  let release: () => void;
  try {
    release = settings.uploads.acquire(request.requiredUser.userId);
  } catch (error) {
    settings.stats.uploadOverCap();
    throw error;
  }
  try {
    const body = idleBoundedBody(request.req, settings.uploadIdleTimeoutMs, () =>
      settings.stats.abort({ route: "upload", reason: "upload-idle" }),
    );
    return await run(body);
  } finally {
    release();
  }
}

async function upload(request: MediaRequest): Promise<void> {
  const options = uploadOptions(request);
  const result = await withUploadSlot(request, (body) =>
    request.settings.repo.upload(body, options),
  );
  sendJson(request.res, 200, { content_uri: result.mxc });
}

async function uploadPending(request: MediaRequest): Promise<void> {
  const { repo } = request.settings;
  const { origin, mediaId } = mediaIdsOf(request.params);
  // Refuse before reading a byte: a second PUT is a 409 even with an empty body.
  await repo.checkPending(origin, mediaId, request.requiredUser.userId);
  const options = uploadOptions(request);
  await withUploadSlot(request, (body) => repo.uploadPending(origin, mediaId, body, options));
  sendJson(request.res, 200, {});
}

async function create(request: MediaRequest): Promise<void> {
  const { repo, quota, logger } = request.settings;
  const { userId } = request.requiredUser;
  const maxPending = quota ? (await quota.limitsFor(userId, logger)).maxPending : undefined;
  let pending;
  try {
    pending = await repo.createPending(userId, {
      ...(maxPending !== undefined && { maxPendingPerUser: maxPending }),
    });
  } catch (error) {
    if (quota && MediaError.is(error) && error.errcode === "M_LIMIT_EXCEEDED") {
      // With quotas, the pending bound is an account limit like the others.
      throw userLimitExceeded(quota, "You have reached your quota of pending uploads");
    }
    if (MediaError.is(error) && error.status === 429 && error.retryAfterMs === undefined) {
      throw new MediaError(error.errcode, error.message, {
        retryAfterMs: PENDING_RETRY_MS,
        cause: error,
      });
    }
    throw error;
  }
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
