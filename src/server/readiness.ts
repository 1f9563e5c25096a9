// `/readyz`: whether this process should get traffic. Liveness (`/healthz`) only says the
// process answers; readiness also checks that the metadata store and every writable
// datastore answer, each within a short deadline, and is false while starting and draining.
import type { Datastore } from "../datastore/index.js";
import type { MetadataStore } from "../metadata/index.js";

/** The answer of one readiness probe. @internal */
export interface Readiness {
  ready: boolean;
  /** `starting`, `draining`, or what failed (`metadata`, `datastore <id>`) with its error. */
  failed: Array<{ check: string; error: string }>;
}

/** A key no datastore holds (keys are SHA-256 hex): `head` answers "missing". */
const PROBE_KEY = "0".repeat(64);
/** Checks run at most this often; probes in between share the last answer. */
const CACHE_MS = 1_000;

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer in ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The dependency checks of `/readyz`: a metadata lookup of an impossible media ID and a
 * `head` of a missing key on every writable datastore, each bounded by `timeoutMs`.
 * @internal
 */
export function readinessChecks(
  metadata: MetadataStore,
  datastores: () => readonly Datastore[],
  timeoutMs = 2_000,
): () => Promise<Readiness> {
  let last: { at: number; answer: Promise<Readiness> } | undefined;
  const run = async (): Promise<Readiness> => {
    const checks: Array<[string, () => Promise<unknown>]> = [
      ["metadata", () => metadata.getMedia("readyz.invalid", "readiness-probe")],
      ...datastores()
        .filter((d) => !d.capabilities.readOnly)
        .map((d): [string, () => Promise<unknown>] => [
          `datastore ${d.id}`,
          () => d.head(PROBE_KEY),
        ]),
    ];
    const results = await Promise.all(
      checks.map(async ([check, probe]) => {
        try {
          await withTimeout(probe(), timeoutMs, check);
          return undefined;
        } catch (err) {
          return { check, error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    const failed = results.filter((r) => r !== undefined);
    return { ready: failed.length === 0, failed };
  };
  return () => {
    const now = Date.now();
    if (last === undefined || now - last.at >= CACHE_MS) last = { at: now, answer: run() };
    return last.answer;
  };
}
