// The MetadataStore conformance suite: every store (ours and third parties') runs the same
// cases, so the repository can rely on one behaviour whatever the database. The cases live
// in groups (./metadata/*.ts); a store skips a whole group or single cases, with a reason.
import { describe, it } from "node:test";
import { ConfigError } from "../errors.js";
import type { MetadataStore } from "../metadata/types.js";
import { adminCases, type MetadataAdminCase } from "./metadata/admin.js";
import type { MetadataCaseContext, MetadataCases } from "./metadata/fixtures.js";
import { hardeningCases, type MetadataHardeningCase } from "./metadata/hardening.js";
import { listingCases, type MetadataListingCase } from "./metadata/listing.js";
import { pendingCases, type MetadataPendingCase } from "./metadata/pending.js";
import { quarantineCases, type MetadataQuarantineCase } from "./metadata/quarantine.js";
import { recordsCases, type MetadataRecordsCase } from "./metadata/records.js";
import {
  thumbnailsAndPreviewsCases,
  type MetadataThumbnailsAndPreviewsCase,
} from "./metadata/thumbnails-and-previews.js";
import { usageCases, type MetadataUsageCase } from "./metadata/usage.js";
import { backgroundCases, type MetadataBackgroundCase } from "./metadata/background.js";

export type { MetadataCaseContext } from "./metadata/fixtures.js";
export type {
  MetadataAdminCase,
  MetadataHardeningCase,
  MetadataListingCase,
  MetadataPendingCase,
  MetadataQuarantineCase,
  MetadataRecordsCase,
  MetadataThumbnailsAndPreviewsCase,
  MetadataUsageCase,
  MetadataBackgroundCase,
};

/** What a {@link MetadataStoreFactory} returns when a store needs more than `close()`. */
export interface MetadataStoreFixture {
  store: MetadataStore;
  /**
   * A second store on the same data through its own connections (a second pool, a second
   * handle on the same file). Concurrency cases race `store` against `peer`.
   * @defaultValue `store`
   */
  peer?: MetadataStore;
  /** Runs after both stores are closed (drop a schema, delete a file). */
  cleanup?(): Promise<void>;
}

/** Makes an empty store (or fixture) for one case; called once per case. */
export type MetadataStoreFactory = () =>
  MetadataStore | MetadataStoreFixture | Promise<MetadataStore | MetadataStoreFixture>;

/** The groups of cases of {@link describeMetadataStore}, in the order they run. */
const GROUPS = {
  records: recordsCases,
  listing: listingCases,
  quarantine: quarantineCases,
  pending: pendingCases,
  "thumbnails-and-previews": thumbnailsAndPreviewsCases,
  usage: usageCases,
  admin: adminCases,
  hardening: hardeningCases,
  "background-jobs": backgroundCases,
} satisfies Record<string, MetadataCases<string>>;

/** A group of cases of {@link describeMetadataStore}, skippable as a whole. */
export type MetadataConformanceGroup =
  | "records"
  | "listing"
  | "quarantine"
  | "pending"
  | "thumbnails-and-previews"
  | "usage"
  | "admin"
  | "hardening"
  | "background-jobs";

/** One case of {@link describeMetadataStore}, by its name. */
export type MetadataConformanceCase =
  | MetadataRecordsCase
  | MetadataListingCase
  | MetadataQuarantineCase
  | MetadataPendingCase
  | MetadataThumbnailsAndPreviewsCase
  | MetadataUsageCase
  | MetadataAdminCase
  | MetadataHardeningCase
  | MetadataBackgroundCase;

/** Options of {@link describeMetadataStore}. */
export interface DescribeMetadataStoreOptions {
  /**
   * Groups or single cases to skip, each with the reason (printed by the test runner), e.g.
   * `{ pending: "this store has no async uploads" }`.
   */
  skip?: Readonly<Partial<Record<MetadataConformanceGroup | MetadataConformanceCase, string>>>;
}

function validateSkip(skip: DescribeMetadataStoreOptions["skip"]): Map<string, string> {
  const known = new Set<string>(Object.keys(GROUPS));
  for (const cases of Object.values(GROUPS)) for (const name of Object.keys(cases)) known.add(name);
  const reasons = new Map<string, string>();
  for (const [name, reason] of Object.entries(skip ?? {})) {
    if (!known.has(name)) {
      throw new ConfigError(
        `describeMetadataStore: expected options.skip keys to be group or case names but received ${JSON.stringify(name)}`,
        { option: "skip" },
      );
    }
    if (typeof reason !== "string" || reason.trim() === "") {
      throw new ConfigError(
        `describeMetadataStore: expected a reason (a non-empty string) for options.skip[${JSON.stringify(name)}] but received ${JSON.stringify(reason)}`,
        { option: `skip.${name}` },
      );
    }
    reasons.set(name, reason);
  }
  return reasons;
}

/** Runs one case on a fresh fixture, closing both stores and cleaning up whatever happens. */
async function runCase(
  factory: MetadataStoreFactory,
  run: (context: MetadataCaseContext) => Promise<void>,
): Promise<void> {
  const made = await factory();
  const fixture: MetadataStoreFixture =
    typeof (made as MetadataStore).insertMedia === "function"
      ? { store: made as MetadataStore }
      : (made as MetadataStoreFixture);
  const store = fixture.store;
  const peer = fixture.peer ?? store;
  try {
    await store.migrate?.();
    if (peer !== store) await peer.migrate?.();
    await run({ store, peer });
  } finally {
    await store.close();
    if (peer !== store) await peer.close();
    await fixture.cleanup?.();
  }
}

/**
 * Registers the `MetadataStore` conformance suite with `node:test`. Each case gets a fresh,
 * empty store from `factory` (and closes it afterwards), so the cases can run in any order.
 * Cases come in groups ({@link MetadataConformanceGroup}); `skip` takes group or case names.
 *
 * @example
 * ```ts
 * import { describeMetadataStore } from "matrix-media-kit/testing";
 * import { memoryMetadataStore } from "matrix-media-kit/metadata";
 *
 * describeMetadataStore("memory", () => memoryMetadataStore());
 * describeMetadataStore("mine", () => myStore(), {
 *   skip: {
 *     pending: "this store has no async uploads",
 *     "usage counters are exact after 1,000 concurrent inserts and deletes": "single writer",
 *   },
 * });
 * ```
 */
export function describeMetadataStore(
  name: string,
  factory: MetadataStoreFactory,
  options: DescribeMetadataStoreOptions = {},
): void {
  const skip = validateSkip(options.skip);
  describe(`MetadataStore conformance: ${name}`, () => {
    for (const [group, cases] of Object.entries(GROUPS)) {
      describe(group, () => {
        for (const [caseName, run] of Object.entries<
          (context: MetadataCaseContext) => Promise<void>
        >(cases)) {
          const reason = skip.get(caseName) ?? skip.get(group);
          if (reason !== undefined) it(caseName, { skip: reason }, () => {});
          else it(caseName, () => runCase(factory, run));
        }
      });
    }
  });
}
