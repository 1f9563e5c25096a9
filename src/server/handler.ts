// The media handler's options from the config: auth, request bounds, freeze. Rate limits and
// quotas are limits.ts's (they change on reload).
import type { MediaHandlerOptions } from "../http/index.js";
import type { HttpConfig } from "./config-http.js";
import type { ServerAuth } from "./auth.js";
import type { ServerLogger } from "./logger.js";

/** @internal */
export function handlerOptions(
  http: HttpConfig,
  check: ServerAuth["check"],
  logger: ServerLogger,
  startedAt = Date.now(),
): MediaHandlerOptions {
  const { freezeLegacy } = http;
  return {
    authenticate: (_req, { accessToken }) => check(accessToken),
    auth: { allowQueryToken: http.allowQueryToken },
    // New media is not served on the unauthenticated legacy routes unless the operator says so.
    freezeLegacy: freezeLegacy === "startup" ? { after: startedAt } : freezeLegacy,
    ...(http.uploadIdleTimeoutMs !== undefined && {
      uploadIdleTimeoutMs: http.uploadIdleTimeoutMs,
    }),
    ...(http.writeStallTimeoutMs !== undefined && {
      writeStallTimeoutMs: http.writeStallTimeoutMs,
    }),
    ...(http.maxConcurrentUploadsPerUser !== undefined && {
      maxConcurrentUploadsPerUser: http.maxConcurrentUploadsPerUser,
    }),
    logger,
  };
}
