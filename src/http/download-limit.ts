// Charges a download's bytes to the `downloadLimit` hook before they are sent.
import { MediaError } from "../errors.js";
import type { MediaRequest } from "./context.js";
import { DEFAULT_RETRY_AFTER_MS } from "./response.js";
import type { MediaRouteName } from "./target.js";

/** Throws `429 M_LIMIT_EXCEEDED` when the hook says these bytes must wait. @internal */
export async function chargeDownload(
  request: MediaRequest,
  route: MediaRouteName,
  bytes: number,
): Promise<void> {
  const hook = request.settings.downloadLimit;
  if (!hook) return;
  const { req } = request;
  const context = {
    route,
    user: request.user,
    server: request.server,
    ip: req.socket.remoteAddress,
    req,
  };
  const wait = await hook(context, bytes);
  if (wait === undefined) return;
  throw new MediaError("M_LIMIT_EXCEEDED", "Too many bytes downloaded; try again later", {
    retryAfterMs: Number.isFinite(wait) ? Math.max(0, Math.ceil(wait)) : DEFAULT_RETRY_AFTER_MS,
  });
}
