// HttpStats counts requests and latency outside prom-client (gateway/http/route-stats.ts);
// /metrics must read exactly as prom-client's own Counter and Histogram fed the same requests.

import { expect, test } from "bun:test";
import { Counter, Histogram, Registry } from "prom-client";
import { HTTP_LATENCY_METRIC, HTTP_REQUESTS_METRIC, HttpStats, LATENCY_BUCKETS_S } from "../gateway/http/route-stats.ts";
import { mulberry32 } from "./harness/prng.ts";

/** The exposition's lines, sorted: Prometheus reads the samples of a metric as a set. */
const lines = (text: string) => text.split("\n").sort();

function promClientPair(registry: Registry) {
  const requests = new Counter({ name: HTTP_REQUESTS_METRIC, help: "HTTP requests by route and status", labelNames: ["route", "status"], registers: [registry] });
  const latency = new Histogram({
    name: HTTP_LATENCY_METRIC,
    help: "HTTP request latency by route",
    labelNames: ["route"],
    buckets: [...LATENCY_BUCKETS_S],
    registers: [registry],
  });
  return { requests, latency };
}

test("exposition has the samples of prom-client's Counter and Histogram, bucket edges and +Inf included", async () => {
  const rnd = mulberry32(20261122);
  const ours = new Registry();
  const theirs = new Registry();
  const stats = new HttpStats(ours);
  const pc = promClientPair(theirs);
  const routes = ["/v1/members/:id", "/v1/orders", "unmatched"];
  const statuses = [200, 202, 400, 403, 404, 500];
  // Empty: neither side prints a sample yet.
  expect(await ours.metrics()).toBe(await theirs.metrics());
  for (let i = 0; i < 5000; i++) {
    const route = routes[Math.floor(rnd() * routes.length)];
    const status = statuses[Math.floor(rnd() * statuses.length)];
    // Mostly spread over the buckets; some exactly on an edge, some past the last one.
    const r = rnd();
    const seconds = r < 0.1 ? LATENCY_BUCKETS_S[Math.floor(rnd() * LATENCY_BUCKETS_S.length)] : r < 0.15 ? 1 + rnd() * 5 : rnd() * rnd() * 0.3;
    stats.route(route).record(status, seconds);
    pc.requests.inc({ route, status });
    pc.latency.observe({ route }, seconds);
  }
  const text = await ours.metrics();
  expect(lines(text)).toEqual(lines(await theirs.metrics()));
  expect(text).toContain(`${HTTP_LATENCY_METRIC}_bucket{le="+Inf",route="/v1/orders"}`);
  expect(text).toMatch(new RegExp(`${HTTP_REQUESTS_METRIC}\\{route="unmatched",status="404"\\} \\d+`));
  // A second scrape reads the same (collect does not double the counts).
  expect(await ours.metrics()).toBe(text);
});
