// `npm start`: the standalone media server on embedded defaults, or --config FILE / MEDIA_CONFIG.
import { ConfigError, loadConfig } from "./config.js";
import { consoleLogger, startStandaloneServer } from "./server.js";

try {
  const config = loadConfig(process.argv.slice(2), process.env);
  const server = await startStandaloneServer(config, consoleLogger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    consoleLogger.info("shutting down", { signal });
    void server.close().then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
} catch (err) {
  if (err instanceof ConfigError || err instanceof RangeError) {
    consoleLogger.error(`invalid configuration: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
