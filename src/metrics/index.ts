/**
 * Prometheus metrics for the kit, fed by its `node:diagnostics_channel` events: requests by
 * route and status with latency histograms, bytes in and out, uploads, thumbnails and the
 * thumbnail queue, cache lookups per tier and shard breakers, datastore operations, federation
 * fetches by origin, background jobs. Every label comes from a bounded set (route names,
 * datastore ids, cache names, at most `maxOrigins` origins): never a media ID, user ID or URL.
 *
 * `prom-client` is an optional peer dependency, loaded only when {@link createMetrics} runs.
 *
 * @example
 * ```ts
 * import http from "node:http";
 * import { createMetrics } from "matrix-media-kit/metrics";
 *
 * const metrics = await createMetrics();
 * http.createServer((req, res) => void metrics.handle(req, res)).listen(9100, "127.0.0.1");
 * ```
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type * as PromClient from "prom-client";
import { ConfigError } from "../errors.js";
import { subscribeCollectors } from "./collectors.js";

/** Defaults of {@link MetricsOptions}. */
export const DEFAULT_METRICS_OPTIONS = Object.freeze({
  /** @defaultValue `"matrix_media_"` */
  prefix: "matrix_media_",
  /** @defaultValue 100 */
  maxOrigins: 100,
});

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Where the metrics are registered. @defaultValue a new prom-client `Registry` */
  registry?: PromClient.Registry;
  /** Prefix of every metric name. @defaultValue `"matrix_media_"` */
  prefix?: string;
  /**
   * How many federation origins get their own label value; later ones count as `other`.
   * @defaultValue 100
   */
  maxOrigins?: number;
}

/** The kit's metrics, from {@link createMetrics}. */
export interface MediaMetrics {
  /** The registry the metrics live in (the one passed in, or a new one). */
  readonly registry: PromClient.Registry;
  /** The exposition text of the registry. */
  metrics(): Promise<string>;
  /**
   * A `node:http` handler: `GET /metrics` (and `HEAD`) answer the exposition text, anything
   * else 404. Serve it on its own listener, not on the media port.
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Unsubscribes from every channel; the metrics stay registered with their last values. */
  dispose(): void;
}

const MISSING = "install prom-client to use matrix-media-kit/metrics (npm install prom-client)";

async function loadPromClient(): Promise<typeof PromClient> {
  try {
    const loaded = (await import("prom-client")) as typeof PromClient & {
      default?: typeof PromClient;
    };
    return loaded.Registry ? loaded : (loaded.default ?? loaded);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new ConfigError(MISSING, { option: "prom-client", cause: err });
    }
    throw err;
  }
}

function validate(options: MetricsOptions): { prefix: string; maxOrigins: number } {
  const prefix = options.prefix ?? DEFAULT_METRICS_OPTIONS.prefix;
  if (typeof prefix !== "string" || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new ConfigError(
      `Expected a Prometheus name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*) for prefix but received ${JSON.stringify(prefix)}`,
      { option: "prefix" },
    );
  }
  const maxOrigins = options.maxOrigins ?? DEFAULT_METRICS_OPTIONS.maxOrigins;
  if (!Number.isSafeInteger(maxOrigins) || maxOrigins < 0) {
    throw new ConfigError(
      `Expected a non-negative integer for maxOrigins but received ${String(maxOrigins)}`,
      { option: "maxOrigins" },
    );
  }
  return { prefix, maxOrigins };
}

/**
 * Registers the kit's metrics and subscribes to its diagnostics channels. Subscribe once per
 * process (two instances on one registry would register the same names twice).
 *
 * @throws {@link ConfigError} when `prom-client` is not installed or an option is invalid.
 * @example
 * ```ts
 * import { Registry } from "prom-client";
 * import { createMetrics } from "matrix-media-kit/metrics";
 *
 * const registry = new Registry(); // or the application's own
 * const metrics = await createMetrics({ registry, prefix: "media_" });
 * console.log(await metrics.metrics());
 * metrics.dispose();
 * ```
 */
export async function createMetrics(options: MetricsOptions = {}): Promise<MediaMetrics> {
  const { prefix, maxOrigins } = validate(options);
  const prom = await loadPromClient();
  const registry = options.registry ?? new prom.Registry();
  const unsubscribe = subscribeCollectors({ prom, registry, prefix, maxOrigins });
  let disposed = false;
  return {
    registry,
    metrics: () => registry.metrics(),
    handle: (req, res) => serveMetrics(registry, req, res),
    dispose() {
      if (disposed) return;
      disposed = true;
      unsubscribe();
    },
  };
}

async function serveMetrics(
  registry: PromClient.Registry,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, {
      "content-type": registry.contentType,
      "content-length": Buffer.byteLength(body),
    });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch (err) {
    res.writeHead(500, { "content-type": "text/plain" }).end(`${String(err)}\n`);
  }
}
