// The failures every store reports the same way.
import { MediaError } from "../errors.js";

export function cannotOverwrite(origin: string, mediaId: string): MediaError {
  return new MediaError("M_CANNOT_OVERWRITE_MEDIA", `Media ${origin}/${mediaId} already exists`);
}

export function pendingNotFound(origin: string, mediaId: string): MediaError {
  return new MediaError(
    "M_NOT_FOUND",
    `No pending upload ${origin}/${mediaId} (unknown or expired)`,
  );
}

export function pendingLimit(creator: string, max: number): MediaError {
  return new MediaError(
    "M_LIMIT_EXCEEDED",
    `${creator} already has ${max} pending uploads (maxPendingPerUser); finish or let them expire first`,
  );
}
