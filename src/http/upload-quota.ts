// Applies the quota to one upload: refused before a byte is read when Content-Length says it
// will not fit, else counted while streaming and aborted at the first byte over (the
// repository then discards what it stored, as for any failed body).
import { MediaError } from "../errors.js";
import type { QuotaPolicy } from "./quota.js";
import type { MediaRepository, RepositoryLogger } from "../repository/types.js";

/** The `M_USER_LIMIT_EXCEEDED` refusal (403 on the upload endpoints). @internal */
export function userLimitExceeded(policy: QuotaPolicy, message: string): MediaError {
  return new MediaError("M_USER_LIMIT_EXCEEDED", message, {
    fields: { info_uri: policy.infoUri, can_upgrade: false },
  });
}

/** An admitted upload: how many bytes it may have, and what to record once it is stored. @internal */
export interface UploadAllowance {
  /** Bytes the body may have; `undefined` is no quota limit. */
  maxBytes: number | undefined;
  /** The refusal of a body that outgrows `maxBytes`, naming the limit. */
  refuse: () => MediaError;
  /** Counts the stored upload in the user's windows (errors are logged, not thrown). */
  record: (bytes: number) => Promise<void>;
}

/**
 * Checks the user's quota before an upload of `declared` bytes (`undefined`: unknown length).
 * @internal
 */
export async function admitUpload(
  policy: QuotaPolicy,
  repo: MediaRepository,
  userId: string,
  declared: number | undefined,
  logger: RepositoryLogger | undefined,
): Promise<UploadAllowance> {
  const limits = await policy.limitsFor(userId, logger);
  let room = Number.POSITIVE_INFINITY;
  let reason = "";
  if (limits.maxBytes !== undefined || limits.maxFiles !== undefined) {
    const usage = await repo.usage(userId);
    if (limits.maxFiles !== undefined && usage.count >= limits.maxFiles) {
      throw userLimitExceeded(policy, `You have reached your quota of ${limits.maxFiles} files`);
    }
    if (limits.maxBytes !== undefined) {
      room = limits.maxBytes - usage.bytes;
      reason = `your storage quota of ${limits.maxBytes} bytes`;
    }
  }
  for (const w of limits.uploadWindows) {
    const used = await windowUsed(policy, userId, w.periodMs, logger);
    if (w.maxBytes - used < room) {
      room = w.maxBytes - used;
      reason = `your upload limit of ${w.maxBytes} bytes per ${w.periodMs / 1000} s`;
    }
  }
  const over = () => userLimitExceeded(policy, `This upload would exceed ${reason}`);
  // An empty upload always fits; anything else needs room for its first byte.
  if (room < 0 || (room === 0 && declared !== 0) || (declared !== undefined && declared > room)) {
    throw over();
  }
  return {
    maxBytes: Number.isFinite(room) ? room : undefined,
    refuse: over,
    record: async (bytes) => {
      for (const w of limits.uploadWindows) {
        try {
          await policy.windows.add(userId, w.periodMs, bytes);
        } catch (error) {
          logger?.warn("could not count an upload in its quota window", { userId, error });
        }
      }
    },
  };
}

async function windowUsed(
  policy: QuotaPolicy,
  userId: string,
  periodMs: number,
  logger: RepositoryLogger | undefined,
): Promise<number> {
  try {
    return await policy.windows.used(userId, periodMs);
  } catch (error) {
    // An unreachable window store must not stop uploads: the window counts as empty.
    logger?.warn("could not read an upload quota window: it counts as empty", { userId, error });
    return 0;
  }
}

/** `body`, failing with `M_USER_LIMIT_EXCEEDED` at the first chunk past `maxBytes`. @internal */
export async function* quotaBoundedBody(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  refuse: () => MediaError,
): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of body) {
    seen += chunk.length;
    if (seen > maxBytes) throw refuse();
    yield chunk;
  }
}
