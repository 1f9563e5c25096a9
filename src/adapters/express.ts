/**
 * Express adapter: `mediaRouter(repo, options)` mounts the Matrix media API.
 *
 * @module
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { createMediaHandler, type MediaHandlerOptions } from "../http/handler.js";
import type { MediaRepository } from "../repository/types.js";

export type { MediaHandlerOptions, MediaUser, RateLimitContext } from "../http/handler.js";
export type { MediaRepository } from "../repository/types.js";

/**
 * An Express middleware serving every Matrix media route; other requests fall through
 * to `next()`. Mount it before body parsers (uploads stream from the request), at the
 * application root or under any path: the handler matches on `req.originalUrl`.
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
    handle(req, res).then((handled) => {
      if (!handled) next();
    }, next);
  };
}
