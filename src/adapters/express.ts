/**
 * Express adapter: `mediaRouter(repo, options)` mounts the Matrix media API.
 *
 * @module
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { createMediaHandler } from "../http/handler.js";
import type { MediaHandlerOptions } from "../http/options.js";
import type { MediaRepository } from "../repository/types.js";

export type {
  MediaAdminHooks,
  MediaAuthOptions,
  MediaHandlerOptions,
  MediaUser,
  RateLimitContext,
} from "../http/options.js";
export type {
  UploadQuotaOptions,
  UploadWindow,
  UploadWindowStore,
  UserQuota,
  UserQuotaOverride,
} from "../http/quota.js";

/**
 * An Express middleware serving every Matrix media route; other requests fall through
 * to `next()`. Mount it before body parsers (uploads stream from the request), at the
 * application root or under any path: it hands the handler `req.originalUrl`, the path as
 * the client sent it.
 *
 * @example
 * ```ts
 * import express from "express";
 * import { mediaRouter } from "matrix-media-kit/express";
 *
 * const app = express();
 * app.use(mediaRouter(repo, { authenticate: async (req, { accessToken }) => users.get(accessToken) }));
 * app.listen(8008);
 * ```
 */
export function mediaRouter(repo: MediaRepository, options: MediaHandlerOptions): RequestHandler {
  const handle = createMediaHandler(repo, options);
  return (req: Request, res: Response, next: NextFunction): void => {
    handle(req, res, { url: req.originalUrl }).then((handled) => {
      if (!handled) next();
    }, next);
  };
}
// The repository's types (and those they name), which the handler's signatures use.
export type * from "../index.js";
export type { MediaRouteName } from "../http/index.js";
