// Counters of what the handler refused or cut short. Hostile or flaky clients produce these by
// the thousand, so they are counted and logged at debug rather than logged as errors.
import { channel } from "node:diagnostics_channel";
import type { RepositoryLogger } from "../repository/types.js";

/**
 * Published on the `matrix-media-kit:http:abort` diagnostics channel for every request the
 * client abandoned or the handler cut short.
 */
export interface MediaAbortEvent {
  route: string | undefined;
  reason: "client" | "upload-idle" | "write-stall";
}

const abortChannel = channel("matrix-media-kit:http:abort");

/** What {@link MediaHandlerWithStats.stats} reports: counts since the handler was created. */
export interface MediaHandlerStats {
  /** Requests the client abandoned before their response was finished (logged at debug). */
  clientAborts: number;
  /** Upload bodies that sent nothing for `uploadIdleTimeoutMs` (socket destroyed). */
  uploadIdleTimeouts: number;
  /** Responses the client stopped reading for `writeStallTimeoutMs` (socket destroyed). */
  writeStallTimeouts: number;
  /** Uploads refused with 429 by `maxConcurrentUploadsPerUser`. */
  uploadsOverCap: number;
  /** Requests answered 503 because the process ran out of file descriptors or memory. */
  resourceExhausted: number;
  /** Requests that carried their access token in the query string. */
  queryTokens: number;
}

/** How often the query-token warning may be logged. */
const QUERY_TOKEN_WARN_INTERVAL_MS = 60_000;

/**
 * The handler's counters, and the debug and warning lines that go with them.
 * @internal
 */
export class HandlerStats {
  readonly #counts: MediaHandlerStats = {
    clientAborts: 0,
    uploadIdleTimeouts: 0,
    writeStallTimeouts: 0,
    uploadsOverCap: 0,
    resourceExhausted: 0,
    queryTokens: 0,
  };
  readonly #logger: RepositoryLogger | undefined;
  readonly #now: () => number;
  #queryTokensWarnedAt = Number.NEGATIVE_INFINITY;
  #queryTokensSinceWarning = 0;

  constructor(logger: RepositoryLogger | undefined, now: () => number = () => performance.now()) {
    this.#logger = logger;
    this.#now = now;
  }

  snapshot(): MediaHandlerStats {
    return { ...this.#counts };
  }

  abort(event: MediaAbortEvent, details: Record<string, unknown> = {}): void {
    const key =
      event.reason === "client"
        ? "clientAborts"
        : event.reason === "upload-idle"
          ? "uploadIdleTimeouts"
          : "writeStallTimeouts";
    this.#counts[key]++;
    this.#logger?.debug?.("media request cut short", { ...event, ...details });
    if (abortChannel.hasSubscribers) abortChannel.publish(event);
  }

  uploadOverCap(): void {
    this.#counts.uploadsOverCap++;
  }

  resourceExhausted(error: unknown, route: string | undefined): void {
    this.#counts.resourceExhausted++;
    this.#logger?.warn("media request refused: the process is out of resources", {
      error,
      route,
    });
  }

  /** Counts a query-string token; warns on the first, then at most once a minute. */
  queryToken(route: string | undefined): void {
    this.#counts.queryTokens++;
    this.#queryTokensSinceWarning++;
    const at = this.#now();
    if (at - this.#queryTokensWarnedAt < QUERY_TOKEN_WARN_INTERVAL_MS) return;
    this.#logger?.warn(
      "access token sent in the query string (deprecated by MSC4127; send Authorization: Bearer)",
      { route, requests: this.#queryTokensSinceWarning },
    );
    this.#queryTokensWarnedAt = at;
    this.#queryTokensSinceWarning = 0;
  }
}
