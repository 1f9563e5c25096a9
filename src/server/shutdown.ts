// Shutdown: every resource registers how to close it as it is opened; closing runs them in
// reverse order, so the HTTP server stops before the repository, and the repository before
// the stores it writes to. A failing closer is logged and does not stop the others.
import type { ServerResponse } from "node:http";
import { readInt, refuseUnknownKeys, type ConfigObject } from "./config-values.js";
import type { ServerLogger } from "./logger.js";

/** @internal */
export class ShutdownStack {
  readonly #closers: Array<() => Promise<unknown>> = [];
  readonly #logger: ServerLogger;
  #closing: Promise<void> | undefined;

  constructor(logger: ServerLogger) {
    this.#logger = logger;
  }

  /** Registers a closer, run before every closer registered earlier. */
  push(close: () => unknown): void {
    this.#closers.push(async () => close());
  }

  /** Runs every closer once, newest first; later calls share the first run. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const close of this.#closers.reverse()) {
        await close().catch((err: unknown) =>
          this.#logger.warn("close failed", { err: String(err) }),
        );
      }
    })();
    return this.#closing;
  }
}

/** `shutdown` of the config file. @internal */
export function resolveShutdown(o: ConfigObject): { drainMs: number } {
  refuseUnknownKeys(o, ["drainMs"], "shutdown");
  return { drainMs: readInt(o.drainMs, "shutdown.drainMs", 25_000, 0, 2 ** 31 - 1) };
}

/**
 * The requests a listener is serving, so a shutdown can wait for them: each is counted from
 * its first byte until its response closes and its handler settles (an aborted upload's
 * cleanup included).
 * @internal
 */
export class InFlight {
  readonly #requests = new Set<Promise<unknown>>();
  readonly #responses = new Set<ServerResponse>();
  #idle: (() => void) | undefined;

  get size(): number {
    return this.#requests.size;
  }

  /** Counts `work` until it settles and `res` has closed. */
  track(res: ServerResponse, work: Promise<unknown>): void {
    const closed = new Promise<void>((resolve) => {
      if (res.closed) resolve();
      else res.once("close", () => resolve());
    });
    const done = Promise.allSettled([closed, work]);
    this.#requests.add(done);
    this.#responses.add(res);
    void done.then(() => {
      this.#requests.delete(done);
      this.#responses.delete(res);
      if (this.#requests.size === 0) this.#idle?.();
    });
  }

  /** Makes every connection end after the response it carries (when not yet sent). */
  closeAfterResponses(): void {
    for (const res of this.#responses) if (!res.headersSent) res.setHeader("connection", "close");
  }

  /** Resolves true when nothing is in flight, false once `ms` passed first. */
  settled(ms: number): Promise<boolean> {
    if (this.#requests.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idle = undefined;
        resolve(false);
      }, ms);
      this.#idle = () => {
        clearTimeout(timer);
        this.#idle = undefined;
        resolve(true);
      };
    });
  }
}
