// What a route handler receives, and what a route is. A route family is one file under
// routes/ exporting MediaRoute objects; routes/index.ts lists the families.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { MediaUser } from "./options.js";
import type { HandlerSettings } from "./settings.js";
import { disconnectSignal } from "./request.js";
import type { MediaApi, RouteParams, RoutePath } from "./target.js";

/**
 * One authenticated, routed request.
 * @internal
 */
export class MediaRequest {
  #signal: AbortSignal | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly settings: HandlerSettings,
    /** The API the path is under (the legacy routes differ in auth and freezing). */
    readonly api: MediaApi,
    readonly params: RouteParams,
    readonly query: URLSearchParams,
    /** Undefined for federation and for unauthenticated legacy downloads. */
    readonly user: MediaUser | undefined,
    /** The verified requesting server, for federation routes. */
    readonly server?: string | undefined,
  ) {}

  /** Fires when the client disconnects before the response is finished. */
  get signal(): AbortSignal {
    this.#signal ??= disconnectSignal(this.res);
    return this.#signal;
  }

  /** The user of a route that requires one (authentication ran before the route). */
  get requiredUser(): MediaUser {
    if (!this.user) throw new Error("route requires an authenticated user");
    return this.user;
  }
}

/**
 * A route: where it lives, who may call it, and what answers it.
 * @internal
 */
export interface MediaRoute extends RoutePath {
  /**
   * The APIs on which the route is served without an access token (a token, when sent, is
   * still checked). Admin routes need `isAdmin`, federation routes a verified server,
   * everything else a user.
   */
  anonymousOn?: readonly MediaApi[];
  handle(request: MediaRequest): Promise<void>;
}
