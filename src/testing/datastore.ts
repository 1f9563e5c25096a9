// The datastore conformance suite, run against every driver (ours and third parties'): the
// suite's lifecycle here, its cases in groups in datastore-cases.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Datastore } from "../datastore/types.js";
import {
  describeAbortAndUrl,
  describeReads,
  describeRefusals,
  describeRoundTrips,
  describeWritesAndListing,
  type ConformanceSuite,
  type DatastoreConformanceCase,
} from "./datastore-cases.js";
import { MiB } from "./datastore-blob.js";

export type { DatastoreConformanceCase } from "./datastore-cases.js";
export { testBlob, type TestBlob } from "./datastore-blob.js";

/** Options of {@link describeDatastore}. */
export interface DescribeDatastoreOptions {
  /** Cases to skip, each with the reason printed by the test runner. */
  skip?: Partial<Record<DatastoreConformanceCase, string>>;
  /** Size of the `large` case. @defaultValue 200 MiB */
  largeBytes?: number;
  /** Maximum RSS growth in MB while the `large` blob is put and read back. @defaultValue 150 */
  maxRssGrowthMb?: number;
  /** Called after the suite (after the datastore's `dispose()`). */
  teardown?: () => Promise<void> | void;
}

/** The store under test, the keys its cases wrote, and how cases are registered. */
interface RunningSuite extends ConformanceSuite {
  store: Datastore;
  readonly written: Set<string>;
}

function createSuite(options: DescribeDatastoreOptions): RunningSuite {
  const skip = options.skip ?? {};
  const suite: RunningSuite = {
    store: undefined as unknown as Datastore,
    written: new Set<string>(),
    largeBytes: options.largeBytes ?? 200 * MiB,
    maxRssGrowthMb: options.maxRssGrowthMb ?? 150,
    put: async (...args: Parameters<Datastore["put"]>) => {
      const result = await suite.store.put(...args);
      suite.written.add(result.key);
      return result;
    },
    test: (id, title, fn) => {
      const reason = skip[id];
      if (reason !== undefined) it(`${id}: ${title}`, { skip: reason }, () => undefined);
      else it(`${id}: ${title}`, (t) => fn(t));
    },
  };
  return suite;
}

/**
 * Registers the datastore conformance suite with `node:test`: puts of 0 B, 1 B, 5 MiB and
 * a large blob streamed with bounded memory, ranges, deduplication, concurrency,
 * idempotent deletes, complete listings, refusal of keys the store did not produce,
 * `maxBytes`, aborts leaving nothing behind, and `url()` matching the capabilities.
 *
 * `factory` is called once, before the first case; the datastore is disposed after the last.
 *
 * @example
 * ```ts
 * import { describeDatastore } from "matrix-media-kit/testing";
 * import { myDatastore } from "./my-driver.js";
 * describeDatastore("my driver", () => myDatastore({ ... }), {
 *   skip: { large: "the test bucket is too small" },
 * });
 * ```
 */
export function describeDatastore(
  name: string,
  factory: () => Datastore | Promise<Datastore>,
  options: DescribeDatastoreOptions = {},
): void {
  describe(`datastore conformance: ${name}`, () => {
    const suite = createSuite(options);

    before(async () => {
      const store = await factory();
      suite.store = store;
      assert.equal(typeof store.id, "string");
      assert.equal(typeof store.capabilities, "object");
      assert.equal(
        typeof store.list === "function",
        store.capabilities.list,
        "list() is present iff capabilities.list",
      );
    });

    after(async () => {
      const store = suite.store as Datastore | undefined;
      if (store && !store.capabilities.readOnly) {
        for (const key of suite.written) await store.delete(key).catch(() => undefined);
      }
      await store?.dispose?.();
      await options.teardown?.();
    });

    describeRoundTrips(suite);
    describeReads(suite);
    describeWritesAndListing(suite);
    describeRefusals(suite);
    describeAbortAndUrl(suite);
  });
}
