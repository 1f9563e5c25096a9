// The per-request histogram and counters of the metrics expose exactly what prom-client's own
// Histogram and Counter would for the same observations.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as prom from "prom-client";
import { Counter, Histogram, Registry } from "prom-client";
import { hotCounter, hotHistogram } from "../../src/metrics/hot-metrics.js";

describe("hot histogram", () => {
  it("exposes the same text as prom-client's Histogram, and resets with the registry", async () => {
    const buckets = [0.001, 0.01, 0.1, 1];
    const theirs = new Registry();
    const ours = new Registry();
    const histogram = new Histogram({
      name: "t_seconds",
      help: "h",
      labelNames: ["route", "method"],
      buckets,
      registers: [theirs],
    });
    const observe = hotHistogram(ours, "t_seconds", "h", ["route", "method"], buckets);
    const samples = [
      ["download", "GET", 0.0005],
      ["download", "GET", 0.05],
      ["upload", "PUT", 3],
      ["download", "GET", 0.01],
      ["upload", "PUT", 0.001],
      ["upload", "PUT", 1],
    ] as const;
    for (const [route, method, value] of samples) {
      histogram.observe({ route, method }, value);
      observe([route, method], value);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    const shape = async (r: Registry) =>
      (await r.getMetricsAsJSON()).map((m) => [m.name, m.type, m.values.length]);
    assert.deepEqual(await shape(ours), await shape(theirs));
    ours.resetMetrics();
    theirs.resetMetrics();
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  it("hot counter: the same text as prom-client's Counter, before and after a reset", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const counter = new Counter({
      name: "t_total",
      help: "c",
      labelNames: ["route", "status"],
      registers: [theirs],
    });
    const inc = hotCounter(prom, ours, "t_total", "c", ["route", "status"]);
    for (const [route, status, n] of [
      ["download", "200", 1],
      ["download", "200", 1],
      ["upload", "413", 5],
    ] as const) {
      counter.inc({ route, status }, n);
      inc([route, status], n);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    inc(["download", "200"]);
    counter.inc({ route: "download", status: "200" });
    assert.equal(await ours.metrics(), await theirs.metrics(), "values added after a collect");
    inc(["upload", "200"]);
    ours.resetMetrics();
    theirs.resetMetrics();
    assert.equal(await ours.metrics(), await theirs.metrics(), "a reset drops uncollected values");
  });
});
