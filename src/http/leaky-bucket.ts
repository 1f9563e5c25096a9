// A leaky bucket of bytes (matrix-media-repo's download buckets): each download adds its size,
// the bucket drains at a steady rate, and a download that would overfill it waits. When the
// bucket is not over its capacity, one download may overflow it by up to `overflowBytes`, so a
// large file is not refused just below the limit. A download larger than
// capacity + overflow fits only an empty bucket. The same rule runs in Redis (one atomic
// script) and, while Redis is unreachable, in process memory.

/** The rule's parameters, in bytes and bytes per millisecond. @internal */
export interface LeakyRule {
  capacity: number;
  overflow: number;
  drainPerMs: number;
}

/** The highest level at which `bytes` may be added. @internal */
export function admitLevel(rule: LeakyRule, bytes: number): number {
  if (bytes > rule.capacity + rule.overflow) return 0;
  return Math.min(rule.capacity, rule.capacity + rule.overflow - bytes);
}

/** A bucket's state: its level (bytes) at `at` (ms). @internal */
export interface LeakyState {
  level: number;
  at: number;
}

/**
 * Adds `bytes` to the bucket at `now`: 0 when accepted (and `state` updated), else the
 * milliseconds until it would be.
 * @internal
 */
export function leak(rule: LeakyRule, state: LeakyState, bytes: number, now: number): number {
  const level = Math.max(0, state.level - Math.max(0, now - state.at) * rule.drainPerMs);
  const highest = admitLevel(rule, bytes);
  state.at = now;
  state.level = level;
  if (level > highest) return Math.max(1, Math.ceil((level - highest) / rule.drainPerMs));
  state.level = level + bytes;
  return 0;
}

/**
 * The same rule as {@link leak} in Redis. KEYS[1]: the bucket hash; ARGV: bytes, highest
 * admitted level, drain per ms. The clock is Redis's own (`TIME`), so processes with skewed
 * clocks agree. Returns 0 or the wait in ms. The key expires once the bucket is empty.
 * @internal
 */
export const LEAKY_BUCKET_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bytes = tonumber(ARGV[1])
local highest = tonumber(ARGV[2])
local drain = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(v[1]) or 0
local at = tonumber(v[2]) or now
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
level = level - elapsed * drain
if level < 0 then level = 0 end
if level > highest then
  local wait = math.ceil((level - highest) / drain)
  if wait < 1 then wait = 1 end
  return wait
end
level = level + bytes
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(level / drain) + 1000)
return 0
`;
