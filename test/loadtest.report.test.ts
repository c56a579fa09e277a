// The report's numbers: known latencies give known percentiles, every second gets its own
// bucket, the SLO verdict and exit status follow the figures, and the HTML carries them.

import { describe, expect, test } from "bun:test";
import { LatencyHistogram } from "../loadtest/run/histogram.ts";
import { EXIT } from "../loadtest/run/result.ts";
import { evaluateSlo } from "../loadtest/run/slo.ts";
import { summaryRows, summaryTable } from "../loadtest/run/summary.ts";
import { Timeline } from "../loadtest/run/timeline.ts";
import { pathOf } from "../loadtest/html/chart.ts";
import { renderReport } from "../loadtest/html/report.ts";
import { linearAxis, logAxis, ninesOf, percentileAxis } from "../loadtest/html/scale.ts";
import { SYNTHETIC_SECONDS, syntheticOutcome, syntheticResult } from "./harness/loadtest-result.ts";

/** HDR keeps 3 significant digits: a value comes back within 0.1 %. */
const within = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(want * 0.001 + 1e-3);

describe("latency percentiles", () => {
  test("1 … 1000 ms, once each: p50 500, p90 900, p99 990, p99.9 999, max 1000", () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 1000; v++) h.record(v);
    const s = h.stats();
    expect(s.count).toBe(1000);
    within(s.minMs, 1);
    within(s.p50Ms, 500);
    within(s.p90Ms, 900);
    within(s.p99Ms, 990);
    within(s.p999Ms, 999);
    within(s.maxMs, 1000);
    within(s.meanMs, 500.5);
  });

  test("a skewed set: 990 fast samples and 10 slow ones put p99 on the fast side and p99.9 on the slow", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 990; i++) h.record(2);
    for (let i = 0; i < 10; i++) h.record(250);
    within(h.percentileMs(50), 2);
    within(h.percentileMs(99), 2);
    within(h.percentileMs(99.9), 250);
  });

  test("sub-millisecond samples keep their microseconds; negative ones are counted and kept at 1 µs", () => {
    const h = new LatencyHistogram();
    h.record(0.25);
    h.record(-3);
    within(h.stats().maxMs, 0.25);
    expect(h.stats().minMs).toBe(0.001);
    expect(h.negative).toBe(1);
  });

  test("the percentile curve runs from the minimum through each nine the count resolves to the maximum", () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 10_000; v++) h.record(v / 10);
    const curve = h.curve(10);
    expect(curve[0][0]).toBe(0);
    expect(curve.at(-1)).toEqual([100, 1000]);
    const at = (p: number) => curve.find(([q]) => Math.abs(q - p) < 1e-9)![1];
    within(at(90), 900);
    within(at(99), 990);
    within(at(99.99), 999.9);
    expect(curve.some(([p]) => p > 99.99 && p < 100)).toBe(false); // 10 000 samples resolve 4 nines
    for (let i = 1; i < curve.length; i++) expect(curve[i][1]).toBeGreaterThanOrEqual(curve[i - 1][1]);
  });
});

describe("per-second buckets", () => {
  test("counters land in the second they happened; latency in the second its order was sent", () => {
    const t = new Timeline();
    t.count("offered", 0, 5);
    t.count("offered", 999.9, 5);
    t.count("offered", 1000, 7);
    t.count("acked", 2500, 3);
    t.latency("ack", 1200, 40); // sent in second 1, however late its ack
    t.latency("ack", 1800, 60);
    t.latency("ack", 100, 1);
    const rows = t.rows();
    expect(rows.map((r) => r.offered)).toEqual([10, 7, 0]);
    expect(rows.map((r) => r.acked)).toEqual([0, 0, 3]);
    expect(rows[0].latency.ack?.count).toBe(1);
    expect(rows[1].latency.ack?.count).toBe(2);
    expect(rows[1].latency.ack?.maxMs).toBeCloseTo(60, 0);
    expect(rows[2].latency.ack).toBeUndefined();
    expect(t.total("offered")).toBe(17);
    expect(t.stats("ack")?.count).toBe(3);
    expect(t.stats("e2e")).toBeNull();
    expect(rows[0].applied).toBeNull(); // no engine answered in that second
  });

  test("the synthetic run's seconds give their own percentiles, and the whole run its own", () => {
    const t = syntheticOutcome().timeline;
    const rows = t.rows();
    expect(rows).toHaveLength(SYNTHETIC_SECONDS + 1);
    for (let s = 0; s < SYNTHETIC_SECONDS; s++) {
      const ack = rows[s].latency.ack!;
      expect(ack.count).toBe(100);
      // 2 significant digits per second: within 1 %.
      expect(Math.abs(ack.p50Ms - 0.5 * (s + 1))).toBeLessThanOrEqual(0.01 * 0.5 * (s + 1) + 0.001);
      expect(Math.abs(ack.maxMs - (s + 1))).toBeLessThanOrEqual(0.01 * (s + 1) + 0.001);
      expect(rows[s].latency.e2e!.p99Ms).toBeCloseTo(10 * (s + 1), 0);
      expect(rows[s].applied).toBe(1000);
      expect(rows[s].busy).toBeCloseTo(0.05, 9);
      expect(rows[s].cpu).toBeCloseTo(0.08, 9);
    }
    expect(rows[SYNTHETIC_SECONDS].applied).toBe(0);
    // The run's e2e: 10 samples each of 10, 20 … 100 ms.
    const e2e = t.stats("e2e")!;
    expect(e2e.count).toBe(100);
    within(e2e.p50Ms, 50);
    within(e2e.p90Ms, 90);
    within(e2e.maxMs, 100);
  });
});

describe("the verdict", () => {
  const latency = { ack: { count: 10, minMs: 1, p50Ms: 2, p90Ms: 3, p99Ms: 4, p999Ms: 5, maxMs: 6, meanMs: 2 } };

  test("p99 is judged on order → frame when measured, else on publish → PubAck", () => {
    expect(evaluateSlo({ sloP99Ms: 5, sloMinRate: null, latency, achievedRate: 0 }).pass).toBe(true);
    const withE2e = { ...latency, e2e: { ...latency.ack, p99Ms: 40 } };
    const v = evaluateSlo({ sloP99Ms: 5, sloMinRate: null, latency: withE2e, achievedRate: 0 });
    expect(v.pass).toBe(false);
    expect(v.items[0].detail).toContain("order → tier frame p99 40 ms > 5 ms");
    expect(evaluateSlo({ sloP99Ms: 5, sloMinRate: null, latency: {}, achievedRate: 0 }).items[0].detail).toContain("no latency");
  });

  test("min-rate against the acknowledged rate; nothing asked, nothing judged", () => {
    expect(evaluateSlo({ sloP99Ms: null, sloMinRate: 1000, latency, achievedRate: 999 }).pass).toBe(false);
    expect(evaluateSlo({ sloP99Ms: null, sloMinRate: 1000, latency, achievedRate: 1000 }).pass).toBe(true);
    expect(evaluateSlo({ sloP99Ms: null, sloMinRate: null, latency, achievedRate: 0 })).toEqual({ pass: true, items: [] });
  });

  test("the result: totals, exit status 3 on a missed SLO, and no secret in it", () => {
    const ok = syntheticResult({ sloP99Ms: 150, sloMinRate: 1000 });
    expect(ok.totals).toMatchObject({ requested: 10_000, offered: 10_000, ackedInWindow: 10_000, acked: 10_000, applied: 10_000, achievedRate: 1000, behindSeconds: 0 });
    expect(ok.exitCode).toBe(EXIT.ok);
    expect(ok.latency.e2e?.curve.length).toBeGreaterThan(10);
    expect(JSON.stringify(ok)).not.toContain("a-secret-that-must-not-be-written");
    const missed = syntheticResult({ sloP99Ms: 50, sloMinRate: 2000 });
    expect(missed.exitCode).toBe(EXIT.sloMissed);
    expect(missed.slo.items.map((i) => i.pass)).toEqual([false, false]);
    const table = summaryTable(summaryRows(missed));
    expect(table).toContain("SLO MISSED (exit 3)");
    expect(table).toContain("order → tier frame p99 100 ms > 50 ms");
  });
});

describe("the HTML report", () => {
  test("is one file with its charts drawn from the result, and nothing fetched", () => {
    const r = syntheticResult();
    const html = renderReport(r);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i); // no external resource
    expect(html).not.toContain("a-secret-that-must-not-be-written");
    for (const id of ["chart-throughput", "chart-latency-ack", "chart-latency-e2e", "chart-distribution"]) expect(html).toContain(`id="${id}"`);
    const paths = [...html.matchAll(/<path class="series" data-series="([^"]+)" d="([^"]*)"/g)];
    expect(paths.length).toBe(4 + 4 + 4 + 2);
    for (const [, name, d] of paths) expect({ name, drawn: d.startsWith("M") && d.includes("L") }).toEqual({ name, drawn: true });
    expect(html).toContain("SIGKILL engine 0"); // the event marker
    const embedded = JSON.parse(/<script type="application\/json" id="result">(.*?)<\/script>/s.exec(html)![1]);
    expect(embedded.totals.acked).toBe(10_000);
  });

  test("scales: a gap in a series breaks its path; ticks are 1-2-5; nines are evenly spaced", () => {
    const x = linearAxis(10, "s", String);
    const y = linearAxis(100, "n", String);
    expect(pathOf({ x, y }, [[0, 0], [1, 10], [2, null], [3, 30], [4, 40]]).match(/M/g)).toHaveLength(2);
    expect(linearAxis(93, "", String).ticks.map((t) => t.value)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(logAxis(0.3, 70, "", String).ticks.map((t) => t.value)).toEqual([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]);
    expect(ninesOf(90, 3)).toBeCloseTo(1, 9);
    expect(ninesOf(99.9, 3)).toBeCloseTo(3, 9);
    expect(ninesOf(100, 3)).toBe(4);
    expect(percentileAxis(3).ticks.map((t) => t.label)).toEqual(["0 %", "90 %", "99 %", "99.9 %", "max"]);
  });
});
