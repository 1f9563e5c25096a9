// Datastores from `datastores[]`, routed by kind.
import { mkdirSync } from "node:fs";
import { MEDIA_KINDS, type MediaKind } from "../index.js";
import { fsDatastore, routeByKind, s3Datastore, type Datastore } from "../datastore/index.js";
import type { DatastoreConfig } from "./config-types.js";
import { buildFromConfig } from "./config-values.js";
import type { ServerLogger } from "./logger.js";
import type { ShutdownStack } from "./shutdown.js";

/**
 * The driver of one `datastores[]` entry (also what `matrix-media-kit migrate` opens by id).
 * @internal
 */
export function createConfiguredDatastore(
  d: DatastoreConfig,
  key = `datastores "${d.id}"`,
): Datastore {
  const { id, type, kinds: _kinds, readOnly, ...options } = d;
  return buildFromConfig(key, () =>
    type === "fs"
      ? fsDatastore({ ...(options as { root: string }), id, readOnly: readOnly ?? false })
      : s3Datastore({ ...(options as { bucket: string }), id, readOnly: readOnly ?? false }),
  );
}

/** The router over every configured datastore, which the repository writes through. @internal */
export function createServerDatastore(
  datastores: readonly DatastoreConfig[],
  shutdown: ShutdownStack,
): ReturnType<typeof routeByKind> {
  const stores = new Map<string, Datastore>();
  for (const [n, d] of datastores.entries()) {
    if (d.type === "fs") mkdirSync(d.root as string, { recursive: true });
    const store = createConfiguredDatastore(d, `datastores[${n}]`);
    shutdown.push(() => store.dispose?.());
    stores.set(d.id, store);
  }
  // Each kind goes to the first writable datastore listing it; kinds nobody lists fall back
  // to "local" inside routeByKind. Every datastore, read-only ones included, stays readable.
  const routes: Partial<Record<MediaKind, Datastore>> = {};
  for (const kind of MEDIA_KINDS) {
    const d = datastores.find((x) => !x.readOnly && x.kinds.includes(kind));
    if (d) routes[kind] = stores.get(d.id);
  }
  return buildFromConfig("datastores", () =>
    routeByKind({
      ...routes,
      local: routes.local!, // resolveConfig guarantees a writable "local" datastore
      readable: [...stores.values()],
    }),
  );
}

/**
 * Sweeps the temporary files earlier processes left (a crash, a container restart) at start,
 * not only on a datastore's first write. A failure is logged and does not stop the start.
 * @internal
 */
export async function sweepTemporaryFiles(
  router: ReturnType<typeof routeByKind>,
  logger: ServerLogger,
): Promise<void> {
  for (const store of router.all()) {
    const sweep = (store as { sweep?: () => Promise<number> }).sweep;
    if (typeof sweep !== "function" || store.capabilities.readOnly) continue;
    try {
      const removed = await sweep.call(store);
      if (removed > 0) logger.info("swept temporary files", { datastore: store.id, removed });
    } catch (error) {
      logger.warn("could not sweep temporary files", { datastore: store.id, error });
    }
  }
}
