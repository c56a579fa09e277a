// Per-route request counts and latency buckets, counted in plain numbers on the request path
// and handed to prom-client only when /metrics is scraped.
//
// prom-client's inc() and observe() hash their label object on every call, even through a
// child bound with labels(): in a profile of the gateway under the member-read benchmark the
// two were ~8 % of its CPU (fastHashObject, incWithoutExemplar, the histogram's bucket walk).
// Here a request costs a Map lookup by status, a short bucket search and a few additions.
// The exposition is prom-client's own format, through a collect() hook for the counter and a
// metric object for the histogram (test/gateway.route-stats.test.ts compares both with
// prom-client's Counter and Histogram fed the same requests).

import type { Registry } from "prom-client";
import { Counter } from "prom-client";

/** Upper bounds of the latency buckets, in seconds. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export const HTTP_REQUESTS_METRIC = "tierstream_http_requests_total";
export const HTTP_LATENCY_METRIC = "tierstream_http_request_seconds";

/** One route: requests by status, and its latency histogram (non-cumulative buckets). */
export class RouteStats {
  readonly requestsByStatus = new Map<number, { n: number }>();
  /** bucketCounts[i]: samples ≤ LATENCY_BUCKETS_S[i] and above the bound before; the last, above every bound. */
  readonly bucketCounts = new Float64Array(LATENCY_BUCKETS_S.length + 1);
  latencySumS = 0;
  latencyCount = 0;

  constructor(readonly route: string) {}

  record(status: number, seconds: number): void {
    let requests = this.requestsByStatus.get(status);
    if (requests === undefined) this.requestsByStatus.set(status, (requests = { n: 0 }));
    requests.n++;
    let b = 0;
    while (b < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[b]) b++;
    this.bucketCounts[b]++;
    this.latencySumS += seconds;
    this.latencyCount++;
  }
}

/** Every route's stats, exported as tierstream_http_requests_total and tierstream_http_request_seconds. */
export class HttpStats {
  private readonly routes = new Map<string, RouteStats>();

  constructor(registry: Registry) {
    const routes = this.routes;
    new Counter({
      name: HTTP_REQUESTS_METRIC,
      help: "HTTP requests by route and status",
      labelNames: ["route", "status"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const r of routes.values()) for (const [status, { n }] of r.requestsByStatus) this.inc({ route: r.route, status }, n);
      },
    });
    registry.registerMetric(latencyMetric(routes) as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  /** The stats of one route pattern (made on first use; a handler keeps it). */
  route(route: string): RouteStats {
    let r = this.routes.get(route);
    if (r === undefined) this.routes.set(route, (r = new RouteStats(route)));
    return r;
  }
}

/**
 * A histogram as prom-client's Registry reads one (the shape Histogram.get() returns):
 * cumulative `_bucket` samples with `le`, then `+Inf`, `_sum` and `_count`, per route.
 */
function latencyMetric(routes: Map<string, RouteStats>) {
  const get = async () => {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const r of routes.values()) {
      if (r.latencyCount === 0) continue;
      let cumulative = 0;
      for (let b = 0; b < LATENCY_BUCKETS_S.length; b++) {
        cumulative += r.bucketCounts[b];
        values.push({ labels: { le: LATENCY_BUCKETS_S[b], route: r.route }, value: cumulative, metricName: `${HTTP_LATENCY_METRIC}_bucket` });
      }
      values.push({ labels: { le: "+Inf", route: r.route }, value: r.latencyCount, metricName: `${HTTP_LATENCY_METRIC}_bucket` });
      values.push({ labels: { route: r.route }, value: r.latencySumS, metricName: `${HTTP_LATENCY_METRIC}_sum` });
      values.push({ labels: { route: r.route }, value: r.latencyCount, metricName: `${HTTP_LATENCY_METRIC}_count` });
    }
    return { name: HTTP_LATENCY_METRIC, help: "HTTP request latency by route", type: "histogram", values, aggregator: "sum" };
  };
  return {
    name: HTTP_LATENCY_METRIC,
    help: "HTTP request latency by route",
    type: "histogram",
    aggregator: "sum",
    get,
    getForPromString: get,
    reset() {
      for (const r of routes.values()) {
        r.bucketCounts.fill(0);
        r.latencySumS = 0;
        r.latencyCount = 0;
      }
    },
  };
}
