// The kit's diagnostics channels turned into prom-client metrics: one subscriber per channel,
// each a few lines, every label from a bounded set (never a media ID, user ID or URL).
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type * as PromClient from "prom-client";
import { hotCounter, hotHistogram } from "./hot-metrics.js";
import { boundedLabel, methodLabel, nameLabel } from "./labels.js";

/** What the collectors need to build their metrics. @internal */
export interface CollectorContext {
  prom: typeof PromClient;
  registry: PromClient.Registry;
  prefix: string;
  maxOrigins: number;
}

type Handler = (message: unknown) => void;

/** The channels the collectors read (each owning module publishes under this name). */
const CHANNELS = {
  response: "matrix-media-kit:http:response",
  upload: "matrix-media-kit:repository:upload",
  repoThumbnail: "matrix-media-kit:repository:thumbnail",
  thumbnail: "matrix-media-kit:thumbnail",
  queue: "matrix-media-kit:thumbnail:queue",
  cache: "matrix-media-kit:cache",
  datastore: "matrix-media-kit:datastore",
  remote: "matrix-media-kit:repository:remote",
  job: "matrix-media-kit:scale:job",
  leader: "matrix-media-kit:scale:leader",
} as const;

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const seconds = (ms: unknown): number => (typeof ms === "number" && ms >= 0 ? ms / 1000 : 0);
const bytes = (n: unknown): number => (typeof n === "number" && n > 0 ? n : 0);

function builders(ctx: CollectorContext) {
  const registers = [ctx.registry];
  const name = (n: string) => `${ctx.prefix}${n}`;
  return {
    counter: (n: string, help: string, labelNames: readonly string[] = []) =>
      new ctx.prom.Counter({ name: name(n), help, labelNames, registers }),
    hotCounter: (n: string, help: string, labelNames: readonly string[]) =>
      hotCounter(ctx.prom, ctx.registry, name(n), help, labelNames),
    hotHistogram: (n: string, help: string, labelNames: readonly string[]) =>
      hotHistogram(ctx.registry, name(n), help, labelNames, LATENCY_BUCKETS),
    histogram: (n: string, help: string, labelNames: readonly string[] = []) =>
      new ctx.prom.Histogram({
        name: name(n),
        help,
        labelNames,
        registers,
        buckets: LATENCY_BUCKETS,
      }),
    gauge: (n: string, help: string, labelNames: readonly string[], collect?: () => void) =>
      new ctx.prom.Gauge({
        name: name(n),
        help,
        labelNames,
        registers,
        ...(collect && {
          collect() {
            collect();
          },
        }),
      }),
  };
}

type Builders = ReturnType<typeof builders>;

function httpCollector(b: Builders): Handler {
  const requests = b.hotCounter("http_requests_total", "Requests answered, by route and status", [
    "route",
    "method",
    "status",
  ]);
  const duration = b.hotHistogram("http_request_duration_seconds", "Time to answer a request", [
    "route",
    "method",
  ]);
  const bytesIn = b.hotCounter("http_received_bytes_total", "Request body bytes read", ["route"]);
  const bytesOut = b.hotCounter("http_sent_bytes_total", "Response bytes written", ["route"]);
  const incomplete = b.counter(
    "http_responses_incomplete_total",
    "Responses the connection closed before they were complete",
    ["route"],
  );
  return (message) => {
    const e = message as Record<string, unknown>;
    const route = nameLabel(e.route, "unrecognized");
    const method = methodLabel(String(e.method));
    requests([route, method, String(e.status)]);
    duration([route, method], seconds(e.durationMs));
    // Most requests have no body: skip the lookup of a zero increment.
    const received = bytes(e.bytesIn);
    if (received > 0) bytesIn([route], received);
    bytesOut([route], bytes(e.bytesOut));
    if (e.completed === false) incomplete.inc({ route });
  };
}

function uploadCollector(b: Builders): Handler {
  const uploads = b.counter("uploads_total", "Media stored (uploads and remote copies)", ["kind"]);
  const uploaded = b.counter("upload_bytes_total", "Bytes of media stored", ["kind"]);
  return (message) => {
    const record = (message as { record?: { kind?: unknown; size?: unknown } }).record;
    const kind = nameLabel(record?.kind, "local");
    uploads.inc({ kind });
    uploaded.inc({ kind }, bytes(record?.size));
  };
}

function thumbnailCollectors(b: Builders): Record<"repo" | "thumbnailer" | "queue", Handler> {
  const served = b.counter("thumbnail_requests_total", "Thumbnails served, stored or generated", [
    "result",
  ]);
  const generated = b.counter("thumbnails_generated_total", "Thumbnailer runs that succeeded", [
    "event",
    "mime",
  ]);
  const duration = b.histogram("thumbnail_duration_seconds", "Time a thumbnailer run took", [
    "event",
  ]);
  const refused = b.counter("thumbnail_refusals_total", "Thumbnailer runs refused", [
    "stage",
    "errcode",
  ]);
  const queues = new Map<unknown, { active: number; queued: number }>();
  const sum = (field: "active" | "queued") =>
    [...queues.values()].reduce((total, stats) => total + stats[field], 0);
  const waiting = b.gauge("thumbnail_queue_waiting", "Thumbnail jobs waiting for a slot", [], () =>
    waiting.set(sum("queued")),
  );
  const active = b.gauge("thumbnail_queue_active", "Thumbnail jobs holding a slot", [], () =>
    active.set(sum("active")),
  );
  return {
    repo: (message) =>
      served.inc({ result: (message as { hit?: unknown }).hit ? "stored" : "generated" }),
    thumbnailer: (message) => {
      const e = message as Record<string, unknown>;
      if (e.event === "refused") {
        refused.inc({ stage: nameLabel(e.stage), errcode: nameLabel(e.errcode) });
        return;
      }
      const event = nameLabel(e.event);
      generated.inc({ event, mime: nameLabel(e.mime) });
      duration.observe({ event }, seconds(e.durationMs));
    },
    queue: (message) => {
      const e = message as { queue: unknown; active: number; queued: number };
      queues.set(e.queue, { active: e.active, queued: e.queued });
    },
  };
}

function cacheCollector(b: Builders): Handler {
  const lookups = b.hotCounter("cache_lookups_total", "Cache reads by tier and result", [
    "cache",
    "result",
  ]);
  const errors = b.counter("cache_errors_total", "Cache backend failures (served as misses)", [
    "cache",
    "op",
  ]);
  const skips = b.counter("cache_skips_total", "Values not cached", ["cache", "reason"]);
  const shardUp = b.gauge("cache_shard_up", "1 while a shard's breaker is closed, 0 while open", [
    "cache",
    "shard",
  ]);
  const transitions = b.counter("cache_shard_transitions_total", "Shard breaker changes", [
    "cache",
    "shard",
    "state",
  ]);
  return (message) => {
    const e = message as Record<string, unknown> & { type: string };
    const cache = nameLabel(e.cache);
    switch (e.type) {
      case "hit":
      case "miss":
        lookups([cache, e.type]);
        break;
      case "error":
        errors.inc({ cache, op: nameLabel(e.op) });
        break;
      case "skip":
        skips.inc({ cache, reason: nameLabel(e.reason) });
        break;
      case "shard-down":
      case "shard-up": {
        const shard = nameLabel(e.shard);
        const up = e.type === "shard-up";
        shardUp.set({ cache, shard }, up ? 1 : 0);
        transitions.inc({ cache, shard, state: up ? "up" : "down" });
        break;
      }
    }
  };
}

function datastoreCollector(b: Builders): Handler {
  const ops = b.counter("datastore_operations_total", "Datastore operations", ["datastore", "op"]);
  const duration = b.histogram("datastore_operation_duration_seconds", "Datastore op latency", [
    "datastore",
    "op",
  ]);
  const errors = b.counter("datastore_errors_total", "Datastore operations that failed", [
    "datastore",
    "op",
  ]);
  const written = b.counter("datastore_written_bytes_total", "Bytes put", ["datastore"]);
  return (message) => {
    const e = message as Record<string, unknown>;
    const labels = { datastore: nameLabel(e.datastore), op: nameLabel(e.op) };
    ops.inc(labels);
    if (typeof e.durationMs === "number") duration.observe(labels, seconds(e.durationMs));
    if (e.error !== undefined) errors.inc(labels);
    if (e.op === "put") written.inc({ datastore: labels.datastore }, bytes(e.size));
  };
}

function federationCollector(b: Builders, maxOrigins: number): Handler {
  const origin = boundedLabel(maxOrigins);
  const fetches = b.counter("federation_fetches_total", "Remote media fetches by outcome", [
    "origin",
    "outcome",
  ]);
  const failures = b.counter("federation_fetch_failures_total", "Remote media fetches failed", [
    "origin",
  ]);
  const duration = b.histogram("federation_fetch_duration_seconds", "Remote fetch time", [
    "outcome",
  ]);
  const received = b.counter("federation_received_bytes_total", "Bytes of remote media stored");
  return (message) => {
    const e = message as Record<string, unknown>;
    const outcome = nameLabel(e.outcome);
    const from = origin(nameLabel(e.origin, "unknown"));
    fetches.inc({ origin: from, outcome });
    if (outcome !== "stored" && outcome !== "duplicate") failures.inc({ origin: from });
    duration.observe({ outcome }, seconds(e.ms));
    received.inc(bytes(e.bytes));
  };
}

function scaleCollectors(b: Builders): Record<"job" | "leader", Handler> {
  // `job_name`, not `job`: Prometheus sets `job` on every scraped series itself.
  const runs = b.counter("job_runs_total", "Background job runs by outcome", [
    "job_name",
    "outcome",
  ]);
  const duration = b.histogram("job_duration_seconds", "Background job run time", ["job_name"]);
  const leader = b.gauge("leader", "1 while this process is the leader", []);
  return {
    job: (message) => {
      const e = message as Record<string, unknown>;
      const job_name = nameLabel(e.name);
      runs.inc({ job_name, outcome: nameLabel(e.outcome) });
      duration.observe({ job_name }, seconds(e.ms));
    },
    leader: (message) => leader.set((message as { leader?: unknown }).leader ? 1 : 0),
  };
}

/**
 * Creates every metric in `ctx.registry` and subscribes to the kit's channels; returns the
 * function that unsubscribes.
 * @internal
 */
export function subscribeCollectors(ctx: CollectorContext): () => void {
  const b = builders(ctx);
  const thumbnails = thumbnailCollectors(b);
  const scale = scaleCollectors(b);
  const handlers: Array<[string, Handler]> = [
    [CHANNELS.response, httpCollector(b)],
    [CHANNELS.upload, uploadCollector(b)],
    [CHANNELS.repoThumbnail, thumbnails.repo],
    [CHANNELS.thumbnail, thumbnails.thumbnailer],
    [CHANNELS.queue, thumbnails.queue],
    [CHANNELS.cache, cacheCollector(b)],
    [CHANNELS.datastore, datastoreCollector(b)],
    [CHANNELS.remote, federationCollector(b, ctx.maxOrigins)],
    [CHANNELS.job, scale.job],
    [CHANNELS.leader, scale.leader],
  ];
  // A metrics bug must never break the request or job that published the event.
  const safe = handlers.map(([name, handle]): [string, Handler] => [
    name,
    (message) => {
      try {
        handle(message);
      } catch {
        // ignored: counted nowhere rather than thrown into the publisher
      }
    },
  ]);
  for (const [name, handle] of safe) subscribe(name, handle);
  return () => {
    for (const [name, handle] of safe) unsubscribe(name, handle);
  };
}
