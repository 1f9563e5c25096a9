// `metrics`: Prometheus metrics on their own listener, never on the media port.
import { readInt, readObject, readString, refuseUnknownKeys } from "./config-values.js";

/**
 * `metrics`: with `listen`, the server serves `GET /metrics` (Prometheus text) on that
 * address, a listener of its own (needs the optional `prom-client` package).
 *
 * @example
 * ```yaml
 * metrics:
 *   listen: { host: 127.0.0.1, port: 9100 }
 *   maxOrigins: 100
 * ```
 */
export interface MetricsConfig {
  /** Where `/metrics` is served. @defaultValue none: no metrics */
  listen?: { host: string; port: number };
  /** Federation origins with a label of their own; the rest count as `other`. @defaultValue 100 */
  maxOrigins: number;
}

/** @internal */
export function resolveMetrics(raw: unknown): MetricsConfig {
  const m = readObject(raw, "metrics");
  refuseUnknownKeys(m, ["listen", "maxOrigins"], "metrics");
  const maxOrigins = readInt(m.maxOrigins, "metrics.maxOrigins", 100, 0);
  if (m.listen === undefined) return { maxOrigins };
  const l = readObject(m.listen, "metrics.listen");
  refuseUnknownKeys(l, ["host", "port"], "metrics.listen");
  // Sharing the media port is refused by the bind itself (EADDRINUSE) at start.
  const listen = {
    host: readString(l.host, "metrics.listen.host", "127.0.0.1"),
    port: readInt(l.port, "metrics.listen.port", 9100, 0, 65535),
  };
  return { listen, maxOrigins };
}
