// Every admin action is logged (who, what, how many) and published, so an operator can audit
// what was quarantined or deleted and by whom.
import { channel } from "node:diagnostics_channel";
import type { MediaRequest } from "./context.js";
import type { MediaRouteName } from "./target.js";

/**
 * The diagnostics channel of admin actions. Each message is an {@link AdminActionMessage}.
 *
 * @example
 * ```ts
 * import { subscribe } from "node:diagnostics_channel";
 * import { ADMIN_CHANNEL } from "matrix-media-kit/http";
 *
 * subscribe(ADMIN_CHANNEL, (message) => audit.write(message));
 * ```
 */
export const ADMIN_CHANNEL = "matrix-media-kit:admin";

/** One admin action, as published on {@link ADMIN_CHANNEL} and logged at info. */
export interface AdminActionMessage {
  /** The route, e.g. `admin_quarantine_user`. */
  action: MediaRouteName;
  /** Matrix user ID of the admin. */
  admin: string;
  /** What it was applied to: an `mxc://` URI, a user ID, a room ID, a sha256 or a query. */
  target: string;
  /** Items affected (deleted, quarantined, listed, exported). */
  count: number;
}

const adminChannel = channel(ADMIN_CHANNEL);

/** Logs and publishes one admin action. @internal */
export function auditAdmin(
  request: MediaRequest,
  action: MediaRouteName,
  target: string,
  count: number,
): void {
  const message: AdminActionMessage = {
    action,
    admin: request.requiredUser.userId,
    target,
    count,
  };
  request.settings.logger?.info?.("admin action", { ...message });
  if (adminChannel.hasSubscribers) adminChannel.publish(message);
}
