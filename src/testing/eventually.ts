// Polling until a condition holds, for suites and tests that wait on another process.
import assert from "node:assert/strict";

/** @internal Calls `attempt` every 50 ms until it answers something; fails after `ms`. */
export async function eventually<T>(
  what: string,
  ms: number,
  attempt: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (performance.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
