// Reading values back out of a prom-client registry.
import type { Registry } from "prom-client";

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as Sample[];
}

/** The sum of the samples named `sample` whose labels match `labels` on the given keys. */
async function sumOf(
  registry: Registry,
  name: string,
  sample: string | undefined,
  labels: Record<string, string>,
): Promise<number> {
  return (await samples(registry, name))
    .filter((v) => (v.metricName ?? name) === (sample ?? name))
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** The value of a counter or gauge over the series matching `labels`, 0 when absent. */
export const valueOf = (registry: Registry, name: string, labels: Record<string, string> = {}) =>
  sumOf(registry, name, undefined, labels);

/** A histogram's observation count over the series matching `labels`. */
export const countOf = (registry: Registry, name: string, labels: Record<string, string> = {}) =>
  sumOf(registry, name, `${name}_count`, labels);

/** The label sets of every series of `name`. */
export async function seriesOf(
  registry: Registry,
  name: string,
): Promise<Array<Record<string, unknown>>> {
  return (await samples(registry, name)).map((v) => v.labels);
}
