// The metadata store: PostgreSQL for shared deployments, embedded SQLite by default.
import { mkdirSync } from "node:fs";
import pg from "pg";
import { postgresMetadataStore, type MetadataStore } from "../metadata/index.js";
import { sqliteMetadataStore } from "../metadata/sqlite.js";
import type { MediaServerConfig } from "./config-types.js";
import { buildFromConfig } from "./config-values.js";
import type { ServerLogger } from "./logger.js";
import type { ShutdownStack } from "./shutdown.js";

/** Opens the configured store and migrates its schema. @internal */
export async function createServerMetadata(
  metadata: MediaServerConfig["metadata"],
  shutdown: ShutdownStack,
  logger: ServerLogger,
): Promise<MetadataStore> {
  let store: MetadataStore;
  if (metadata.postgres) {
    const pool = new pg.Pool({ connectionString: metadata.postgres, max: 20 });
    // An idle connection dropped by the server (restart, failover) must not crash the process.
    pool.on("error", (err) => logger.warn("PostgreSQL connection lost", { err: err.message }));
    shutdown.push(() => pool.end());
    store = buildFromConfig("metadata.postgres", () => postgresMetadataStore({ pool }));
  } else {
    const directory = metadata.embedded!;
    mkdirSync(directory, { recursive: true });
    store = buildFromConfig("metadata.embedded", () => sqliteMetadataStore({ directory }));
  }
  shutdown.push(() => store.close());
  await store.migrate?.();
  return store;
}
