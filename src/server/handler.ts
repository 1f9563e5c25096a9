// The media handler's options from the config: auth, request bounds, rate limit, freeze.
import {
  defaultRateLimitKey,
  tokenBucketRateLimit,
  type MediaHandlerOptions,
} from "../http/index.js";
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
  const { rateLimit, freezeLegacy } = http;
  return {
    authenticate: (_req, { accessToken }) => check(accessToken),
    auth: { allowQueryToken: http.allowQueryToken },
    // New media is not served on the unauthenticated legacy routes unless the operator says so.
    freezeLegacy: freezeLegacy === "startup" ? { after: startedAt } : freezeLegacy,
    ...(rateLimit && {
      rateLimit: tokenBucketRateLimit({
        ratePerSecond: rateLimit.ratePerSecond,
        burst: rateLimit.burst,
        // Admins (bulk tools, synapse-admin) are not throttled.
        key: (context) => (context.user?.isAdmin ? undefined : defaultRateLimitKey(context)),
      }),
    }),
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
