// Datastores from `datastores[]`, routed by kind.
import { mkdirSync } from "node:fs";
import { ConfigError, MEDIA_KINDS, type MediaKind } from "../index.js";
import {
  fsDatastore,
  routeByKind,
  s3Datastore,
  type Datastore,
  type DatastoreRouter,
} from "../datastore/index.js";
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

/**
 * The router over every configured datastore, which the repository writes through. Each
 * datastore's `readOnly` flag can change on a config reload: `prepareReadOnly` builds the
 * routes of the new flags (refusing a set with no writable `local` datastore) and returns what
 * puts them in force. Blobs already stored stay readable whatever the flags.
 * @internal
 */
export interface ServerDatastores extends DatastoreRouter {
  prepareReadOnly(next: readonly DatastoreConfig[]): () => void;
}

/** @internal */
export function createServerDatastore(
  datastores: readonly DatastoreConfig[],
  shutdown: ShutdownStack,
): ServerDatastores {
  // One driver per (datastore, flag), made when first needed (drivers do no I/O at construction).
  const drivers = new Map<string, Datastore>();
  const driver = (d: DatastoreConfig, readOnly: boolean, key: string): Datastore => {
    const id = `${readOnly ? "ro" : "rw"}:${d.id}`;
    let store = drivers.get(id);
    if (!store) {
      if (d.type === "fs") mkdirSync(d.root as string, { recursive: true });
      const made = createConfiguredDatastore({ ...d, readOnly }, key);
      shutdown.push(() => made.dispose?.());
      drivers.set(id, made);
      store = made;
    }
    return store;
  };
  const ids = new Set(datastores.map((d) => d.id));
  const build = (readOnly: ReadonlyMap<string, boolean>): DatastoreRouter => {
    const stores = datastores.map((d, n) =>
      driver(d, readOnly.get(d.id) ?? d.readOnly === true, `datastores[${n}]`),
    );
    // Each kind goes to the first writable datastore listing it; kinds nobody lists fall back
    // to "local" inside routeByKind. Every datastore, read-only ones included, stays readable.
    const routes: Partial<Record<MediaKind, Datastore>> = {};
    for (const kind of MEDIA_KINDS) {
      const n = datastores.findIndex(
        (x, i) => !stores[i]!.capabilities.readOnly && x.kinds.includes(kind),
      );
      if (n >= 0) routes[kind] = stores[n];
    }
    if (!routes.local) {
      throw new ConfigError(
        "datastores: every datastore listing the local kind is read-only; keep one writable",
        { option: "datastores" },
      );
    }
    return buildFromConfig("datastores", () =>
      routeByKind({ ...routes, local: routes.local!, readable: stores }),
    );
  };
  let flags: ReadonlyMap<string, boolean> = new Map();
  let current = build(flags);
  return {
    forKind: (kind) => current.forKind(kind),
    byId: (id) => current.byId(id),
    all: () => current.all(),
    put: (kind, source, options) => current.put(kind, source, options),
    get: (datastoreId, key, options) => current.get(datastoreId, key, options),
    head: (datastoreId, key) => current.head(datastoreId, key),
    delete: (datastoreId, key) => current.delete(datastoreId, key),
    url: (datastoreId, key, options) => current.url(datastoreId, key, options),
    dispose: async () => {
      await Promise.all([...drivers.values()].map(async (d) => d.dispose?.()));
    },
    prepareReadOnly(next) {
      // A datastore the new config drops keeps its flag (removing one needs a restart).
      const nextFlags = new Map(flags);
      for (const d of next)
        if (nextFlags.has(d.id) || ids.has(d.id)) nextFlags.set(d.id, d.readOnly === true);
      const router = build(nextFlags);
      return () => {
        flags = nextFlags;
        current = router;
      };
    },
  };
}

/**
 * Sweeps the temporary files earlier processes left (a crash, a container restart) at start,
 * not only on a datastore's first write. A failure is logged and does not stop the start.
 * @internal
 */
export async function sweepTemporaryFiles(
  router: DatastoreRouter,
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
