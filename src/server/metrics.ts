// The `/metrics` listener: its own address (never the media port), opened before the media
// listener so every request is counted, closed after it so the drain is still visible.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createMetrics } from "../metrics/index.js";
import type { MetricsConfig } from "./config-metrics.js";
import type { ServerLogger } from "./logger.js";
import type { ShutdownStack } from "./shutdown.js";

/** Starts the metrics listener when `metrics.listen` is set; returns its URL. @internal */
export async function startMetricsListener(
  config: MetricsConfig,
  shutdown: ShutdownStack,
  logger: ServerLogger,
): Promise<string | undefined> {
  const { listen } = config;
  if (!listen) return undefined;
  const metrics = await createMetrics({ maxOrigins: config.maxOrigins });
  shutdown.push(() => metrics.dispose());
  const server = http.createServer((req, res) => void metrics.handle(req, res));
  // A scraper is never slow on purpose; a stuck one must not hold a socket for long.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, resolve);
  });
  shutdown.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  const url = `http://${host}:${port}/metrics`;
  logger.info("metrics listening", { url });
  return url;
}
