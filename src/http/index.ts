/**
 * The Matrix media HTTP API over a media repository, as a `node:http` request handler:
 * `createMediaHandler(repo, options)` → `(req, res) => Promise<boolean>`.
 *
 * @module
 */
export { createMediaHandler } from "./handler.js";
export {
  DEFAULT_MEDIA_HANDLER_OPTIONS,
  type LiveHandlerLimits,
  type MediaAdminHooks,
  type MediaAuthOptions,
  type MediaHandler,
  type MediaHandlerOptions,
  type MediaHandlerWithStats,
  type MediaRequestTarget,
  type MediaUser,
  type RateLimitContext,
} from "./options.js";
export {
  contentDisposition,
  INLINE_CONTENT_TYPES,
  isInlineType,
  MEDIA_CSP,
  parseRange,
  SECURITY_HEADERS,
  servedContentType,
  type RangeResult,
} from "./headers.js";
export { canonicalContentType, safeFilename } from "./media-type.js";
export {
  applyServerTimeouts,
  DEFAULT_SERVER_TIMEOUTS,
  type ServerTimeouts,
} from "./server-timeouts.js";
export type { MediaAbortEvent, MediaHandlerStats } from "./stats.js";
export { HTTP_RESPONSE_CHANNEL, type MediaResponseEvent } from "./observe.js";
export type { MediaRouteName } from "./target.js";
export { ADMIN_CHANNEL, type AdminActionMessage } from "./admin-audit.js";
export { DEFAULT_ADMIN_PAGING } from "./admin-params.js";
// The repository's types (and those they name), which the handler's signatures use.
export type * from "../index.js";
export {
  DEFAULT_TOKEN_BUCKET_OPTIONS,
  defaultRateLimitKey,
  tokenBucketRateLimit,
  type TokenBucketOptions,
} from "./rate-limit.js";
export {
  createRedisRateLimiter,
  DEFAULT_REDIS_RATE_LIMITER,
  type RedisRateLimiter,
  type RedisRateLimiterOptions,
} from "./redis-rate-limit.js";
export {
  DEFAULT_UPLOAD_QUOTA,
  memoryUploadWindows,
  type MemoryUploadWindowsOptions,
  type UploadQuotaOptions,
  type UploadWindow,
  type UploadWindowStore,
  type UserQuota,
  type UserQuotaOverride,
} from "./quota.js";
