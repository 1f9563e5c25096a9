// Chooses a datastore per media kind, and finds the datastore a blob was written to.
import { ConfigError, MediaError } from "../errors.js";
import { MEDIA_KINDS, type MediaKind } from "../mxc.js";
import { describeOption } from "./internal.js";
import type {
  ByteRange,
  Datastore,
  DatastoreGetResult,
  DatastorePutOptions,
  DatastorePutResult,
} from "./types.js";

/** Options of {@link routeByKind}: one datastore per {@link MediaKind}. */
export interface DatastoreRoutes {
  /** Uploads of this server's users; also the default for every kind not given. */
  local: Datastore;
  /** Copies of remote media. @defaultValue `local` */
  remote?: Datastore;
  /** Thumbnails. @defaultValue `local` */
  thumbnail?: Datastore;
  /** URL preview images. @defaultValue `local` */
  preview?: Datastore;
  /** Exports. @defaultValue `local` */
  archive?: Datastore;
  /**
   * Further datastores that receive no new blobs but must stay readable for media recorded
   * in them (old or read-only stores, the source of a finished migration).
   */
  readable?: Datastore[];
}

/** A blob written through a {@link DatastoreRouter}: record `datastoreId` and `key` in metadata. */
export interface RoutedPutResult extends DatastorePutResult {
  /** The `id` of the datastore the blob went to. */
  datastoreId: string;
}

/** What {@link routeByKind} returns. */
export interface DatastoreRouter {
  /** The datastore new blobs of `kind` go to. */
  forKind(kind: MediaKind): Datastore;
  /** The datastore with this `id` (any kind, or `readable`), or `undefined`. */
  byId(id: string): Datastore | undefined;
  /** Every distinct datastore, writable ones first. */
  all(): readonly Datastore[];
  /** Puts a blob into the datastore of `kind`. */
  put(
    kind: MediaKind,
    source: AsyncIterable<Uint8Array> | Uint8Array,
    options?: DatastorePutOptions,
  ): Promise<RoutedPutResult>;
  /** Reads a blob recorded as (`datastoreId`, `key`). Unknown datastore: `M_NOT_FOUND`. */
  get(
    datastoreId: string,
    key: string,
    options?: { range?: ByteRange; signal?: AbortSignal },
  ): Promise<DatastoreGetResult>;
  /** Size of a recorded blob, or `undefined` (also for an unknown datastore). */
  head(datastoreId: string, key: string): Promise<{ size: number } | undefined>;
  /** Deletes a recorded blob (idempotent; an unknown datastore is an error). */
  delete(datastoreId: string, key: string): Promise<void>;
  /** A direct URL for a recorded blob when its datastore offers one. */
  url(
    datastoreId: string,
    key: string,
    options?: { expiresIn?: number },
  ): Promise<string | undefined>;
  /** Disposes every datastore. */
  dispose(): Promise<void>;
}

/** The datastore of every kind, validated: each a writable Datastore. */
function writableByKind(routes: DatastoreRoutes): Map<MediaKind, Datastore> {
  if (!routes || typeof routes !== "object" || !isDatastore(routes.local)) {
    throw new ConfigError(
      `routeByKind: expected routes.local to be a Datastore but received ${describeOption(routes?.local)}`,
      { option: "local" },
    );
  }
  const byKind = new Map<MediaKind, Datastore>();
  for (const kind of MEDIA_KINDS) {
    const store = routes[kind] ?? routes.local;
    if (!isDatastore(store)) {
      throw new ConfigError(
        `routeByKind: expected routes.${kind} to be a Datastore but received ${describeOption(store)}`,
        { option: kind },
      );
    }
    if (store.capabilities.readOnly) {
      throw new ConfigError(
        `routeByKind: datastore "${store.id}" is read-only and cannot receive ${kind} media (routes.${kind}); list it under routes.readable`,
        { option: kind },
      );
    }
    byKind.set(kind, store);
  }
  return byKind;
}

/** Every distinct datastore by id (kinds first, then `readable`); one id, one datastore. */
function datastoresById(
  routes: DatastoreRoutes,
  byKind: Map<MediaKind, Datastore>,
): Map<string, Datastore> {
  const ids = new Map<string, Datastore>();
  const add = (store: Datastore, where: string): void => {
    const existing = ids.get(store.id);
    if (existing && existing !== store) {
      throw new ConfigError(
        `routeByKind: two different datastores share the id "${store.id}" (routes.${where}); give each an unique id`,
        { option: where },
      );
    }
    ids.set(store.id, store);
  };
  for (const kind of MEDIA_KINDS) add(byKind.get(kind)!, kind);
  for (const [i, store] of (routes.readable ?? []).entries()) {
    if (!isDatastore(store)) {
      throw new ConfigError(
        `routeByKind: expected routes.readable[${i}] to be a Datastore but received ${describeOption(store)}`,
        { option: `readable[${i}]` },
      );
    }
    add(store, `readable[${i}]`);
  }
  return ids;
}

/**
 * Routes each kind of media to its own datastore, and reads blobs back from whichever
 * datastore metadata says they live in.
 *
 * The repository calls `put(kind, …)` (or `forKind(kind).put(…)`), records the returned
 * `datastoreId` and `key` in the media record, and later reads with
 * `get(record.datastoreId, record.key)` (or `byId(id)`). Datastores listed only under
 * `readable` — and read-only ones — never receive new blobs but keep serving existing media.
 * Distinct datastores must have distinct `id`s; a read-only datastore cannot be the target
 * of a kind. Invalid routes throw a `ConfigError` naming the route.
 *
 * @example
 * ```ts
 * import { fsDatastore, s3Datastore, routeByKind } from "matrix-media-kit/datastore";
 * const local = fsDatastore({ id: "disk", root: "./data/media" });
 * const s3 = s3Datastore({ id: "s3", bucket: "media", endpoint: "http://garage:3900", forcePathStyle: true });
 * const stores = routeByKind({ local: s3, thumbnail: local, preview: local, readable: [fsDatastore({ id: "old", root: "/mnt/old", readOnly: true })] });
 * const { datastoreId, key } = await stores.put("local", Buffer.from("hello"));
 * const { stream } = await stores.get(datastoreId, key);
 * ```
 */
export function routeByKind(routes: DatastoreRoutes): DatastoreRouter {
  const byKind = writableByKind(routes);
  const ids = datastoresById(routes, byKind);
  const all = [...ids.values()];

  function mustGet(id: string): Datastore {
    const store = ids.get(id);
    if (!store) throw new MediaError("M_NOT_FOUND", `No datastore with id "${id}" is configured`);
    return store;
  }

  return {
    forKind: (kind) => {
      const store = byKind.get(kind);
      if (!store)
        throw new MediaError("M_INVALID_PARAM", `Unknown media kind ${JSON.stringify(kind)}`);
      return store;
    },
    byId: (id) => ids.get(id),
    all: () => all,
    put: async (kind, source, options) => {
      const store = byKind.get(kind);
      if (!store)
        throw new MediaError("M_INVALID_PARAM", `Unknown media kind ${JSON.stringify(kind)}`);
      const result = await store.put(source, options);
      return { ...result, datastoreId: store.id };
    },
    get: async (datastoreId, key, options) => mustGet(datastoreId).get(key, options),
    head: async (datastoreId, key) => ids.get(datastoreId)?.head(key),
    delete: async (datastoreId, key) => mustGet(datastoreId).delete(key),
    url: async (datastoreId, key, options) => {
      const store = mustGet(datastoreId);
      return store.capabilities.url && store.url ? store.url(key, options) : undefined;
    },
    dispose: async () => {
      await Promise.all(all.map(async (s) => s.dispose?.()));
    },
  };
}

function isDatastore(value: unknown): value is Datastore {
  const v = value as Partial<Datastore> | undefined;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.id === "string" &&
    typeof v.put === "function" &&
    typeof v.get === "function" &&
    typeof v.capabilities === "object"
  );
}
