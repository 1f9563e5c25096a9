// The media handler: resolves the options once, then per request matches the route, runs
// the checks every route shares (CORS preflight, authentication, method, admin, rate limit)
// and hands the request to the route.
import { channel } from "node:diagnostics_channel";
import type { IncomingMessage } from "node:http";
import { MediaError } from "../errors.js";
import type { MediaRepository } from "../repository/types.js";
import { MediaRequest, type MediaRoute } from "./context.js";
import type {
  MediaHandler,
  MediaHandlerOptions,
  LiveHandlerLimits,
  MediaHandlerWithStats,
  MediaUser,
} from "./options.js";
import { observeResponse } from "./observe.js";
import { accessTokenOf } from "./request.js";
import { DEFAULT_RETRY_AFTER_MS, mediaHeaders, sendFailure } from "./response.js";
import { MEDIA_ROUTES } from "./routes/index.js";
import { resolveSettings, updateHandlerLimits, type HandlerSettings } from "./settings.js";
import {
  compileRoutes,
  matchRoute,
  parseTarget,
  type MediaApi,
  type ParsedTarget,
} from "./target.js";

const requestChannel = channel("matrix-media-kit:http:request");
const ROUTES = compileRoutes(MEDIA_ROUTES);
const CLIENT_APIS: ReadonlySet<MediaApi> = new Set(["client", "legacy", "admin", "msc4034"]);
const ALL_APIS: ReadonlySet<MediaApi> = new Set([...CLIENT_APIS, "federation"]);

/** Who is calling: a user (client APIs) or a server (federation). */
interface Caller {
  user?: MediaUser | undefined;
  server?: string | undefined;
}

/**
 * Authenticates before the route is known, so an unknown path without a token is a 401,
 * not a 404 that would reveal which paths exist.
 */
async function authenticateCaller(
  settings: HandlerSettings,
  req: IncomingMessage,
  parsed: ParsedTarget,
  route: MediaRoute | undefined,
): Promise<Caller> {
  if (parsed.api === "federation") {
    const server = await settings.authenticateServer!(req);
    if (!server) {
      throw new MediaError("M_UNAUTHORIZED", "Federation request not authenticated", {
        status: 401,
      });
    }
    return { server };
  }
  const credential = accessTokenOf(req, parsed.query);
  if (credential?.source === "query") {
    if (!settings.allowQueryToken) {
      throw new MediaError(
        "M_MISSING_TOKEN",
        "Access tokens in the query string are not accepted; send Authorization: Bearer",
      );
    }
    settings.stats.queryToken(route?.name);
  }
  const token = credential?.token;
  if (token === undefined) {
    if (route?.anonymousOn?.includes(parsed.api)) return {};
    throw new MediaError("M_MISSING_TOKEN", "Missing access token");
  }
  const user = await settings.authenticate(req, { accessToken: token });
  if (!user) throw new MediaError("M_UNKNOWN_TOKEN", "Unrecognised access token");
  return { user };
}

/** The checks between authentication and the route: method, admin, rate limit. */
async function admit(
  settings: HandlerSettings,
  req: IncomingMessage,
  api: MediaApi,
  route: MediaRoute,
  caller: Caller,
): Promise<void> {
  const method = req.method ?? "GET";
  if (!route.methods.includes(method)) {
    throw new MediaError("M_UNRECOGNIZED", `Method ${method} is not allowed here`, {
      status: 405,
    });
  }
  if (api === "admin" && caller.user?.isAdmin !== true) {
    throw new MediaError("M_FORBIDDEN", "You are not a server admin");
  }
  if (settings.rateLimit) {
    const wait = await settings.rateLimit({
      route: route.name,
      user: caller.user,
      server: caller.server,
      ip: req.socket.remoteAddress,
      req,
    });
    if (wait !== undefined) {
      throw new MediaError("M_LIMIT_EXCEEDED", "Too many requests", {
        // A hook bug (NaN, Infinity) must not become `Retry-After: NaN`.
        retryAfterMs: Number.isFinite(wait) ? Math.max(0, wait) : DEFAULT_RETRY_AFTER_MS,
      });
    }
  }
}

/**
 * Creates the Matrix media API handler over a repository: the authenticated
 * `/_matrix/client/v1/media/*` routes, the legacy `/_matrix/media/{r0,v1,v3}/*` routes
 * (upload, create, PUT upload, download, thumbnail, preview_url, config) and the media part of
 * Synapse's admin API (media info, deletes, quarantine, protection, a user's media and its
 * export, statistics: see docs/admin.md), which only users marked `isAdmin` may call.
 *
 * Authentication runs before anything else; media IDs and server names are validated
 * before any storage call; every response carries the spec's sandbox CSP, `nosniff`,
 * `Cross-Origin-Resource-Policy: cross-origin` and CORS headers.
 *
 * Remote media (another origin) is served when it is in the store; fetching it over
 * federation is not implemented, so a foreign origin that is not stored is `404 M_NOT_FOUND`.
 *
 * Mount it before any body parser: uploads are streamed from the request. Behind a router
 * that rewrites `req.url`, pass the original target as the third argument (the Express and
 * Koa adapters do).
 *
 * @throws {@link ConfigError} when `repo` is not a repository or an option is invalid.
 *
 * @example
 * ```ts
 * import http from "node:http";
 * import { createMediaHandler } from "matrix-media-kit/http";
 *
 * const handle = createMediaHandler(repo, {
 *   authenticate: async (_req, { accessToken }) =>
 *     accessToken === "secret" ? { userId: "@alice:example.org" } : undefined,
 * });
 * http.createServer(async (req, res) => {
 *   if (!(await handle(req, res))) {
 *     res.writeHead(404).end();
 *   }
 * }).listen(8008);
 * ```
 */
export function createMediaHandler(
  repo: MediaRepository,
  options: MediaHandlerOptions,
): MediaHandlerWithStats {
  const settings = resolveSettings(repo, options);
  const apis = settings.authenticateServer ? ALL_APIS : CLIENT_APIS;

  const handleMedia: MediaHandler = async (req, res, target) => {
    const parsed = parseTarget(target?.url ?? req.url ?? "/", apis);
    if (!parsed) return false;
    const matched = matchRoute(parsed, ROUTES, req.method);
    // A route this handler does not serve is answered exactly as an unknown path.
    const route = matched && settings.serves(matched.route.name) ? matched : undefined;
    settings.writeStalls.watch(res);
    observeResponse(req, res, parsed.api, route?.route.name);
    try {
      if (req.method === "OPTIONS") {
        res.writeHead(204, mediaHeaders({ extra: { "Access-Control-Max-Age": "86400" } }));
        res.end();
        return true;
      }
      const caller = await authenticateCaller(settings, req, parsed, route?.route);
      if (!route) throw new MediaError("M_UNRECOGNIZED", "Unrecognized request");
      await admit(settings, req, parsed.api, route.route, caller);
      const { user } = caller;
      if (requestChannel.hasSubscribers) requestChannel.publish({ route: route.route.name, user });
      const request = new MediaRequest(
        req,
        res,
        settings,
        parsed.api,
        route.params,
        parsed.query,
        user,
        caller.server,
      );
      await route.route.handle(request);
    } catch (error) {
      const context = { route: route?.route.name, allow: route?.allow };
      sendFailure(req, res, error, context, settings);
    }
    return true;
  };
  return Object.assign(handleMedia, {
    stats: () => settings.stats.snapshot(),
    updateLimits: (limits: LiveHandlerLimits) => updateHandlerLimits(settings, limits),
  });
}
