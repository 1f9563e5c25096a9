// Shutdown: every resource registers how to close it as it is opened; closing runs them in
// reverse order, so the HTTP server stops before the repository, and the repository before
// the stores it writes to. A failing closer is logged and does not stop the others.
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
