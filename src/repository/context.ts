// The state every flow of the repository shares, passed explicitly to the module-scope
// functions of ingest, pending, download, thumbnails, previews and maintenance.
import type { MediaCache } from "../cache/types.js";
import { memoryCoordinator } from "../coordination/memory.js";
import type { Coordinator } from "../coordination/types.js";
import type { Datastore } from "../datastore/types.js";
import { MediaError } from "../errors.js";
import { isValidMediaId, isValidServerName } from "../ids/validate.js";
import type { MetadataStore } from "../metadata/types.js";
import type { MediaKind } from "../mxc.js";
import { validateRepositoryOptions } from "./options.js";
import { validateRemoteOptions } from "./remote-options.js";
import { createRemoteState, type RemoteState } from "./remote-state.js";
import { createThumbnailState, type ThumbnailState } from "./thumbnails.js";
import type {
  MediaIdSource,
  MediaRepositoryOptions,
  PreviewFetcherLike,
  RepositoryLimits,
  RepositoryLogger,
  ThumbnailerLike,
} from "./types.js";

/** Finds the datastore new blobs of a kind go to, and the one a record names. @internal */
export interface DatastoreResolver {
  forKind(kind: MediaKind): Datastore;
  /** Throws `M_UNKNOWN` for a datastore that is not configured. */
  byId(id: string): Datastore;
}

/** A last-access time waiting for the next batch. @internal */
export interface MediaTouch {
  origin: string;
  mediaId: string;
  at: number;
}

/** Background work (thumbnail pre-generation, touch flushes) that `whenIdle` waits for. @internal */
export class BackgroundTasks {
  readonly #running = new Set<Promise<unknown>>();
  readonly #logger: RepositoryLogger | undefined;

  constructor(logger: RepositoryLogger | undefined) {
    this.#logger = logger;
  }

  track(work: Promise<unknown>): void {
    const task = work.catch((error: unknown) =>
      this.#logger?.warn("background task failed", { error }),
    );
    this.#running.add(task);
    void task.finally(() => this.#running.delete(task));
  }

  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }
}

/** @internal */
export interface RepositoryContext {
  /** Local server names; the first is used for uploads. */
  readonly serverNames: readonly string[];
  readonly localNames: ReadonlySet<string>;
  readonly limits: Readonly<RepositoryLimits>;
  readonly ids: MediaIdSource;
  readonly metadata: MetadataStore;
  readonly datastores: DatastoreResolver;
  readonly cache: MediaCache | undefined;
  readonly thumbnailer: ThumbnailerLike | undefined;
  readonly previews: PreviewFetcherLike | undefined;
  readonly logger: RepositoryLogger | undefined;
  /** Wall clock, ms since the epoch (records, expiries). */
  readonly now: () => number;
  /** Monotonic clock, ms (deadlines). */
  readonly monotonicNow: () => number;
  readonly background: BackgroundTasks;
  /**
   * Blobs stored but not yet recorded, by sha256 with a count: a concurrent delete of other
   * media with the same bytes must not delete them (see ingest).
   */
  readonly pins: Map<string, number>;
  /**
   * Wakes downloads waiting for a pending upload (in every process when shared); the
   * default of `remote.coordinator`.
   */
  readonly coordinator: Coordinator;
  /** True when `coordinator` is the in-process default, closed with the repository. */
  readonly ownsCoordinator: boolean;
  /** Last-access times batched until the next flush, by `origin/mediaId`. */
  readonly touches: Map<string, MediaTouch>;
  readonly thumbnails: ThumbnailState;
  /** Fetching media of other servers; absent when `options.remote` is not given. */
  readonly remote: RemoteState | undefined;
}

type DatastoreOption = MediaRepositoryOptions["datastore"];

function isRouter(value: DatastoreOption): value is Exclude<DatastoreOption, Datastore> {
  return (
    typeof (value as { forKind?: unknown }).forKind === "function" &&
    typeof (value as { byId?: unknown }).byId === "function"
  );
}

function datastoreResolver(option: DatastoreOption): DatastoreResolver {
  const find = (id: string): Datastore | undefined =>
    isRouter(option) ? option.byId(id) : option.id === id ? option : undefined;
  return {
    forKind: (kind) => (isRouter(option) ? option.forKind(kind) : option),
    byId(id) {
      const store = find(id);
      if (!store) {
        throw new MediaError(
          "M_UNKNOWN",
          `Media is stored in datastore ${JSON.stringify(id)}, which is not configured`,
        );
      }
      return store;
    },
  };
}

/** Validates the options and builds the shared state. @internal */
export function createRepositoryContext(options: MediaRepositoryOptions): RepositoryContext {
  const { serverNames, limits } = validateRepositoryOptions(options);
  const coordinator = options.coordinator ?? memoryCoordinator();
  const remote = validateRemoteOptions(options.remote, limits.maxUploadBytes, coordinator);
  return {
    serverNames,
    localNames: new Set(serverNames),
    limits,
    ids: options.ids,
    metadata: options.metadata,
    datastores: datastoreResolver(options.datastore),
    cache: options.cache,
    thumbnailer: options.thumbnailer,
    previews: options.previews,
    logger: options.logger,
    now: options.now ?? Date.now,
    monotonicNow: () => performance.now(),
    background: new BackgroundTasks(options.logger),
    pins: new Map(),
    coordinator,
    ownsCoordinator: options.coordinator === undefined,
    touches: new Map(),
    thumbnails: createThumbnailState(limits),
    remote: remote && createRemoteState(remote),
  };
}

/** @internal */
export function notFound(): MediaError {
  return new MediaError("M_NOT_FOUND", "Media not found");
}

/** Refuses a server name or media ID that could not be valid, before any storage is touched. @internal */
export function checkIds(origin: string, mediaId: string): void {
  if (!isValidServerName(origin)) {
    throw new MediaError("M_INVALID_PARAM", "Invalid server name");
  }
  if (!isValidMediaId(mediaId)) {
    throw new MediaError("M_INVALID_PARAM", "Invalid media ID");
  }
}

/** The local server name a new upload goes under. @internal */
export function localOrigin(ctx: RepositoryContext, origin: string | undefined): string {
  if (origin === undefined) return ctx.serverNames[0]!;
  if (!ctx.localNames.has(origin)) {
    throw new MediaError("M_FORBIDDEN", `${origin} is not a server name of this repository`);
  }
  return origin;
}
