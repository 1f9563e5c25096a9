/**
 * Koa adapter: `mediaMiddleware(repo, options)` mounts the Matrix media API.
 *
 * @module
 */
import type { Middleware } from "koa";
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
 * A Koa middleware serving every Matrix media route on the raw `ctx.req`/`ctx.res`
 * (Koa's response handling is bypassed for them); other requests go to `next()`. Use it
 * before any body parser: uploads stream from the request. Routes are matched on
 * `ctx.originalUrl`, so a mount prefix (koa-mount) does not hide them.
 *
 * @example
 * ```ts
 * import Koa from "koa";
 * import { mediaMiddleware } from "matrix-media-kit/koa";
 *
 * const app = new Koa();
 * app.use(mediaMiddleware(repo, { authenticate: async (req, { accessToken }) => users.get(accessToken) }));
 * app.listen(8008);
 * ```
 */
export function mediaMiddleware(repo: MediaRepository, options: MediaHandlerOptions): Middleware {
  const handle = createMediaHandler(repo, options);
  return async (ctx, next) => {
    // Koa must not write its own response once the handler owns ctx.res.
    ctx.respond = false;
    if (await handle(ctx.req, ctx.res, { url: ctx.originalUrl })) return;
    ctx.respond = true;
    await next();
  };
}
// The repository's types (and those they name), which the handler's signatures use.
export type * from "../index.js";
export type { MediaRouteName } from "../http/index.js";
