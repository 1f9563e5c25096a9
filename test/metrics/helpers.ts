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

/** The value of one series (labels matched exactly on the given keys), 0 when absent. */
export async function valueOf(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = await samples(registry, name);
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .filter((v) => v.metricName === undefined || v.metricName === name)
    .reduce((sum, v) => sum + v.value, 0);
}

/** The label sets of every series of `name`. */
export async function seriesOf(registry: Registry, name: string): Promise<Array<Record<string, unknown>>> {
  return (await samples(registry, name)).map((v) => v.labels);
}

/** A histogram's observation count for the given labels. */
export async function countOf(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = await samples(registry, name);
  return values
    .filter((v) => v.metricName === `${name}_count`)
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
