// A counter and a histogram for the per-request path. prom-client's own validate and hash the
// labels (and the histogram builds a closure) on every observation; these keep their values
// in a plain map under the joined label values, so a request pays one map lookup and a few
// additions. The counter hands its sums to a prom-client Counter when the registry collects;
// the histogram answers the registry itself, in prom-client's histogram shape.
import type * as PromClient from "prom-client";

interface Series {
  labels: Record<string, string>;
  /** Non-cumulative counts per bucket; the last one is above every bound (`+Inf`). */
  counts: number[];
  sum: number;
  count: number;
}

/** Observes `value` for the label values given in `labelNames`' order. @internal */
export type HotObserve = (values: readonly string[], value: number) => void;

/**
 * Registers a histogram named `name` in `registry` and returns its observe function.
 * @internal
 */
export function hotHistogram(
  registry: PromClient.Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  buckets: readonly number[],
): HotObserve {
  const series = new Map<string, Series>();
  const metric = {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    labelNames,
    get() {
      const values: Array<{
        labels: Record<string, string | number>;
        value: number;
        metricName: string;
      }> = [];
      for (const s of series.values()) {
        let cumulative = 0;
        buckets.forEach((le, i) => {
          cumulative += s.counts[i]!;
          values.push({
            labels: { le, ...s.labels },
            value: cumulative,
            metricName: `${name}_bucket`,
          });
        });
        values.push({
          labels: { le: "+Inf", ...s.labels },
          value: s.count,
          metricName: `${name}_bucket`,
        });
        values.push({ labels: s.labels, value: s.sum, metricName: `${name}_sum` });
        values.push({ labels: s.labels, value: s.count, metricName: `${name}_count` });
      }
      return Promise.resolve({ name, help, type: "histogram", values, aggregator: "sum" });
    },
    reset() {
      series.clear();
    },
  };
  registry.registerMetric(metric as unknown as PromClient.Metric);
  return (values, value) => {
    const key = values.join("\u0000");
    let s = series.get(key);
    if (!s) {
      const labels: Record<string, string> = {};
      labelNames.forEach((label, i) => (labels[label] = values[i]!));
      s = { labels, counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 };
      series.set(key, s);
    }
    let i = 0;
    while (i < buckets.length && value > buckets[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  };
}

/** Adds `value` (default 1) for the label values given in `labelNames`' order. @internal */
export type HotIncrement = (values: readonly string[], value?: number) => void;

/**
 * Registers a counter named `name` in `registry` and returns its increment function.
 * @internal
 */
export function hotCounter(
  prom: typeof PromClient,
  registry: PromClient.Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
): HotIncrement {
  const pending = new Map<string, { labels: Record<string, string>; value: number }>();
  const counter = new prom.Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const { labels, value } of pending.values()) this.inc(labels, value);
      pending.clear();
    },
  });
  const reset = counter.reset.bind(counter);
  counter.reset = () => {
    pending.clear();
    reset();
  };
  return (values, value = 1) => {
    const key = values.join("\u0000");
    const entry = pending.get(key);
    if (entry) {
      entry.value += value;
      return;
    }
    const labels: Record<string, string> = {};
    labelNames.forEach((label, i) => (labels[label] = values[i]!));
    pending.set(key, { labels, value });
  };
}
