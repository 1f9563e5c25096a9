// Who is asking: access tokens checked against the homeserver's whoami endpoint (production),
// or a fixed token map (development and tests; without either, one random admin token).
import { randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import { MediaError } from "../index.js";
import type { MediaUser } from "../http/index.js";
import type { AuthConfig } from "./config-types.js";

/** Resolves an access token to its user, or undefined for an unknown token. @internal */
export type TokenCheck = (accessToken: string) => Promise<MediaUser | undefined>;

/** The server's token check, and the development token it made up when none was configured. @internal */
export interface ServerAuth {
  check: TokenCheck;
  devToken: string | undefined;
}

/** @internal */
export function createServerAuth(auth: AuthConfig, serverName: string): ServerAuth {
  const admins = new Set(auth.admins);
  if (auth.homeserverUrl) {
    return { check: whoamiAuth(auth.homeserverUrl, admins, auth.cacheMs), devToken: undefined };
  }
  if (auth.tokens) return { check: tokenAuth(auth.tokens, admins), devToken: undefined };
  const devToken = randomBytes(24).toString("base64url");
  const admin = `@admin:${serverName}`;
  admins.add(admin);
  return { check: tokenAuth({ [devToken]: admin }, admins), devToken };
}

function tokenAuth(tokens: Record<string, string>, admins: ReadonlySet<string>): TokenCheck {
  const users = new Map(Object.entries(tokens));
  return async (token) => {
    const userId = users.get(token);
    return userId === undefined ? undefined : { userId, isAdmin: admins.has(userId) };
  };
}

/** Checks access tokens with `/_matrix/client/v3/account/whoami`, reusing answers for `cacheMs`. */
function whoamiAuth(homeserverUrl: string, admins: ReadonlySet<string>, cacheMs: number) {
  // Boxed: lru-cache cannot hold `undefined`, and "unknown token" is an answer worth caching.
  const answers =
    cacheMs > 0
      ? new LRUCache<string, { user: MediaUser | undefined }>({ max: 100_000, ttl: cacheMs })
      : undefined;
  const base = homeserverUrl.replace(/\/+$/, "");
  return async (token: string): Promise<MediaUser | undefined> => {
    const hit = answers?.get(token);
    if (hit) return hit.user;
    const userId = await whoami(base, token);
    const user = userId === undefined ? undefined : { userId, isAdmin: admins.has(userId) };
    answers?.set(token, { user });
    return user;
  };
}

/** The user ID the homeserver answers for `token`; undefined when it refuses the token. */
async function whoami(base: string, token: string): Promise<string | undefined> {
  // The homeserver is the operator's own (often on a private network), so this request
  // deliberately does not go through the SSRF guard used for user-supplied URLs.
  const res = await fetch(`${base}/_matrix/client/v3/account/whoami`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  }).catch((err: unknown) => {
    throw new MediaError(
      "M_UNKNOWN",
      "The homeserver could not be reached to check the access token",
      { status: 502, cause: err },
    );
  });
  if (res.ok) {
    const body = (await res.json()) as { user_id?: unknown };
    if (typeof body.user_id !== "string")
      throw new MediaError("M_UNKNOWN", "Bad whoami answer", { status: 502 });
    return body.user_id;
  }
  await res.body?.cancel();
  if (res.status === 401 || res.status === 403) return undefined;
  throw new MediaError("M_UNKNOWN", `The homeserver answered whoami with ${res.status}`, {
    status: 502,
  });
}
