// SRV lookups of server discovery: cached answers (a missing record is an answer too) and
// the choice of one target: the lowest priority, then by weight (RFC 2782).
import { MediaError } from "../errors.js";
import type { SingleFlight } from "../internal/single-flight.js";
import type { ExpiringCache } from "./transport-cache.js";

/** One SRV record, as node:dns `resolveSrv` returns it. */
export interface SrvRecord {
  /** The target host. */
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** Resolves SRV records of a name; an empty array means there is none. */
export type SrvResolver = (name: string) => Promise<readonly SrvRecord[]>;

const TARGET = /^[A-Za-z0-9.-]{1,253}$/;

/** Records usable as a connect target (others are dropped, never dialled). */
function usable(record: SrvRecord): SrvRecord | undefined {
  if (record === null || typeof record !== "object") return undefined;
  const name = typeof record.name === "string" ? record.name.replace(/\.$/, "") : "";
  const { port, priority, weight } = record;
  if (!TARGET.test(name) || name.split(".").some((label) => label.length === 0)) return undefined;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (!Number.isInteger(priority) || priority < 0 || !Number.isInteger(weight) || weight < 0) {
    return undefined;
  }
  return { name: name.toLowerCase(), port, priority, weight };
}

/**
 * The record to use: among those of the lowest priority, one picked at random with a chance
 * proportional to its weight (all equally likely when every weight is 0).
 * @internal
 */
export function pickSrvRecord(
  records: readonly SrvRecord[],
  random: () => number,
): SrvRecord | undefined {
  const valid = records.map(usable).filter((r): r is SrvRecord => r !== undefined);
  if (valid.length === 0) return undefined;
  const lowest = Math.min(...valid.map((r) => r.priority));
  const group = valid.filter((r) => r.priority === lowest);
  const total = group.reduce((sum, r) => sum + r.weight, 0);
  if (total === 0) return group[Math.min(group.length - 1, Math.floor(random() * group.length))];
  let point = random() * total;
  for (const record of group) {
    point -= record.weight;
    if (point < 0) return record;
  }
  return group[group.length - 1];
}

/** What {@link resolveSrvCached} needs. @internal */
export interface SrvLookup {
  cache: ExpiringCache<readonly SrvRecord[]>;
  flights: SingleFlight<readonly SrvRecord[]>;
  resolve: SrvResolver;
  ttlMs: number;
}

/**
 * The SRV records of `name`, from the cache or the resolver. Failures other than "no record"
 * (which the resolver reports as `[]`) are thrown as a 502 and not cached.
 * @internal
 */
export async function resolveSrvCached(
  name: string,
  lookup: SrvLookup,
): Promise<readonly SrvRecord[]> {
  const cached = lookup.cache.get(name);
  if (cached !== undefined) return cached;
  return lookup.flights.run(name, async () => {
    let records: readonly SrvRecord[];
    try {
      records = await lookup.resolve(name);
    } catch (error) {
      throw new MediaError("M_UNKNOWN", "Could not resolve the remote server", {
        status: 502,
        cause: error,
      });
    }
    if (!Array.isArray(records)) {
      throw new MediaError("M_UNKNOWN", "Could not resolve the remote server", { status: 502 });
    }
    const answer: readonly SrvRecord[] = records;
    lookup.cache.set(name, answer, lookup.ttlMs);
    return answer;
  });
}
