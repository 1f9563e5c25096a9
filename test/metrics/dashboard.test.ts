// docs/grafana-dashboard.json against a live registry: every panel has a query, and every
// query names only metrics (and labels) the kit exports.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import { createMetrics, type MediaMetrics } from "../../src/metrics/index.js";
import {
  createFixture,
  request,
  SERVER_NAME,
  TOKENS,
  upload,
  type Fixture,
} from "../http/fixture.js";
import { projectRoot } from "../harness/built.js";

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr?: string }>;
}

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
]);
// Labels Prometheus itself puts on series (target labels, histogram buckets).
const PROMETHEUS_LABELS = new Set(["le", "instance", "job"]);

/** The metric names and label names one PromQL expression uses. */
export function parseExpr(expr: string): { metrics: string[]; labels: string[] } {
  const labels: string[] = [];
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  s = s.replace(/\{([^}]*)\}/g, (_, matchers: string) => {
    for (const m of matchers.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g))
      labels.push(m[1]!);
    return " ";
  });
  s = s.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_, _kw: string, list: string) => {
      labels.push(
        ...list
          .split(",")
          .map((l) => l.trim())
          .filter(Boolean),
      );
      return " ";
    },
  );
  s = s.replace(/\[[^\]]*\]/g, " ");
  const metrics: string[] = [];
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = s.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0])) continue; // a function or a keyword
    metrics.push(m[0]);
  }
  return { metrics, labels };
}

describe("docs/grafana-dashboard.json", () => {
  let f: Fixture;
  let metrics: MediaMetrics;
  let registry: Registry;
  const dashboard = JSON.parse(
    readFileSync(path.join(projectRoot, "docs/grafana-dashboard.json"), "utf8"),
  ) as { panels: Panel[]; templating: { list: Array<{ definition?: string }> } };

  before(async () => {
    registry = new Registry();
    metrics = await createMetrics({ registry });
    f = await createFixture();
    const { mediaId } = await upload(f.baseUrl, Buffer.from("dashboard"), "text/plain");
    const path = `/_matrix/client/v1/media/download/${SERVER_NAME}/${mediaId}`;
    assert.equal((await request(f.baseUrl, "GET", path, { token: TOKENS.alice })).status, 200);
  });
  after(async () => {
    metrics.dispose();
    await f.close();
  });

  it("parses PromQL the way the check below relies on", () => {
    const parsed = parseExpr(
      'histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{a=~"b",c="d{}"}[5m]))) / on(instance) y',
    );
    assert.deepEqual(parsed.metrics, ["x_bucket", "y"]);
    assert.deepEqual(parsed.labels.sort(), ["a", "c", "instance", "le", "route"]);
  });

  it("has a query on every panel, naming only metrics and labels the kit exports", async () => {
    const exported = new Map<string, { type: string; labels: Set<string> }>();
    for (const metric of await registry.getMetricsAsJSON()) {
      const labels = new Set<string>();
      for (const v of metric.values) for (const l of Object.keys(v.labels)) labels.add(l);
      const declared = (
        registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }
      )?.labelNames;
      for (const l of declared ?? []) labels.add(l);
      exported.set(metric.name, { type: String(metric.type), labels });
    }
    assert.ok(exported.size > 20, `only ${exported.size} metrics registered`);
    const resolve = (name: string) => {
      const direct = exported.get(name);
      if (direct) return direct;
      const base = name.replace(/_(bucket|sum|count)$/, "");
      const histogram = exported.get(base);
      return histogram?.type === "histogram" ? histogram : undefined;
    };
    const graphs = dashboard.panels.filter((p) => p.type !== "row");
    assert.ok(graphs.length >= 20, `${graphs.length} panels`);
    const used = new Set<string>();
    for (const panel of graphs) {
      const exprs = (panel.targets ?? []).map((t) => t.expr).filter((e): e is string => !!e);
      assert.ok(exprs.length > 0, `panel "${panel.title}" has no query`);
      for (const expr of exprs) {
        const { metrics: names, labels } = parseExpr(expr);
        assert.ok(names.length > 0, `panel "${panel.title}": no metric in ${expr}`);
        const found = names.map((n) => {
          const metric = resolve(n);
          assert.ok(metric, `panel "${panel.title}" queries ${n}, which the kit does not export`);
          used.add(n.replace(/_(bucket|sum|count)$/, ""));
          return metric;
        });
        for (const label of labels) {
          if (PROMETHEUS_LABELS.has(label)) continue;
          assert.ok(
            found.some((m) => m.labels.has(label)),
            `panel "${panel.title}" uses label ${label}, which ${names.join(", ")} do not have`,
          );
        }
      }
    }
    for (const variable of dashboard.templating.list) {
      const m = /label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(variable.definition ?? "");
      if (m) assert.ok(resolve(m[1]!), `template variable queries ${m[1]}`);
    }
    // Every metric the kit exports is on the dashboard somewhere.
    const unused = [...exported.keys()].filter((n) => !used.has(n));
    assert.deepEqual(unused, []);
  });
});
