// The HTML report: one self-contained file (inline CSS, SVG and a few lines of script for the
// hover read-outs; no network), drawn from the JSON result alone, so any result.json can be
// rendered again:  throughput over time, latency percentiles over time, the HDR distribution.

import { ms, num } from "../run/live-line.ts";
import type { LoadtestResult } from "../run/result.ts";
import { summaryRows, verdictWords } from "../run/summary.ts";
import { METRIC_NAMES, METRICS, type Metric } from "../run/timeline.ts";
import { escapeHtml, type Marker, renderChart, type Series } from "./chart.ts";
import { linearAxis, logAxis, ninesOf, percentileAxis } from "./scale.ts";

const COLORS = { asked: "#9aa0a6", sent: "#1a73e8", acked: "#188038", applied: "#e8710a", p50: "#188038", p99: "#e8710a", p999: "#d93025", max: "#5f6368" } as const;
const METRIC_COLORS: Record<Metric, string> = { ack: "#1a73e8", e2e: "#9334e6", claim: "#188038", open: "#e8710a" };
/** Which second a latency sample belongs to. */
const SENT_WHEN: Record<Metric, string> = { ack: "the order was sent", e2e: "the order was sent", claim: "the claim was sent", open: "the benefit opened" };
/** What the throughput chart's series are called: orders, or a drop's claims (no asked rate, no engines' count). */
const WORDS = {
  orders: { item: "orders", sent: "sent", acked: "acknowledged (PubAck)" },
  claims: { item: "claims", sent: "claims sent", acked: "claims answered" },
} as const;

const secondsLabel = (v: number) => `${num(v)} s`;

function markers(r: LoadtestResult): Marker[] {
  const out: Marker[] = r.events.map((e) => ({ x: e.tMs / 1000, label: e.what.split(" (")[0] }));
  if (r.timeline.length > r.durationS) out.push({ x: r.durationS, label: "load ends" });
  return out;
}

function throughputChart(r: LoadtestResult): string {
  const rows = r.timeline;
  const at = (t: number) => t + 0.5; // a second's figure sits in its middle
  const words = WORDS[r.item ?? "orders"];
  const series: Series[] = [
    { name: "asked", color: COLORS.asked, dash: "6 4", points: rows.filter((x) => x.t < r.durationS).map((x) => [at(x.t), x.requested]) },
    { name: words.sent, color: COLORS.sent, points: rows.map((x) => [at(x.t), x.offered]) },
    { name: words.acked, color: COLORS.acked, points: rows.map((x) => [at(x.t), x.acked]) },
  ];
  if (r.item === "claims") series.shift();
  if (rows.some((x) => x.applied !== null)) series.push({ name: "applied by the engines", color: COLORS.applied, points: rows.map((x) => [at(x.t), x.applied]) });
  const peak = Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v ?? 0)));
  return renderChart({
    id: "chart-throughput",
    title: `Throughput — ${words.item} per second`,
    x: linearAxis(rows.length, "seconds since the start of the load", secondsLabel, 10),
    y: linearAxis(peak, `${words.item} / s`, num),
    series,
    markers: markers(r),
    formatX: (v) => `${Math.floor(v)}–${Math.floor(v) + 1} s`,
    formatY: (v) => `${num(v)}/s`,
  });
}

function latencyOverTime(r: LoadtestResult, m: Metric): string {
  const rows = r.timeline;
  const pick = (k: "p50Ms" | "p99Ms" | "p999Ms" | "maxMs") => rows.map((x) => [x.t + 0.5, x.latency[m]?.[k] ?? null] as const);
  const series: Series[] = [
    { name: "p50", color: COLORS.p50, points: pick("p50Ms") },
    { name: "p99", color: COLORS.p99, points: pick("p99Ms") },
    { name: "p99.9", color: COLORS.p999, points: pick("p999Ms") },
    { name: "max", color: COLORS.max, dash: "2 3", points: pick("maxMs") },
  ];
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v): v is number => v !== null && v > 0);
  return renderChart({
    id: `chart-latency-${m}`,
    title: `${METRIC_NAMES[m]} latency per second (by the second ${SENT_WHEN[m]}; log scale)`,
    x: linearAxis(rows.length, "seconds since the start of the load", secondsLabel, 10),
    y: logAxis(Math.min(...values), Math.max(...values), "ms", ms),
    series,
    markers: markers(r),
    formatX: (v) => `${Math.floor(v)}–${Math.floor(v) + 1} s`,
    formatY: (v) => `${ms(v)} ms`,
  });
}

function distributionChart(r: LoadtestResult): string {
  const metrics = METRICS.filter((m) => (r.latency[m]?.curve.length ?? 0) > 0);
  const lastNine = Math.max(1, ...metrics.map((m) => Math.floor(Math.max(...r.latency[m]!.curve.filter(([p]) => p < 100).map(([p]) => ninesOf(p, 0))) + 1e-9)));
  const series: Series[] = metrics.map((m) => ({
    name: METRIC_NAMES[m],
    color: METRIC_COLORS[m],
    points: r.latency[m]!.curve.map(([p, v]) => [ninesOf(p, lastNine), v] as const),
  }));
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v): v is number => v !== null && v > 0);
  return renderChart({
    id: "chart-distribution",
    title: "Latency distribution over the whole run (HDR histogram; percentile on a log-of-nines scale)",
    x: percentileAxis(lastNine),
    y: logAxis(Math.min(...values), Math.max(...values), "ms", ms),
    series,
    formatX: (v) => (v >= lastNine + 1 ? "max" : `p${Number((100 * (1 - 10 ** -v)).toPrecision(6))}`),
    formatY: (v) => `${ms(v)} ms`,
  });
}

function timelineTable(r: LoadtestResult): string {
  const metrics = METRICS.filter((m) => r.latency[m] !== undefined);
  const head = ["s", "asked", "sent", "acked", "applied", "errors", "blocked ticks", "gen busy", ...metrics.flatMap((m) => [`${m} p50`, `${m} p99`, `${m} p99.9`])];
  const body = r.timeline.map((x) =>
    [
      x.t,
      num(x.requested),
      num(x.offered),
      num(x.acked),
      num(x.applied),
      num(x.errors),
      `${x.blockedTicks}/${x.ticks}`,
      `${Math.round(x.busy * 100)} %`,
      ...metrics.flatMap((m) => [ms(x.latency[m]?.p50Ms), ms(x.latency[m]?.p99Ms), ms(x.latency[m]?.p999Ms)]),
    ]
      .map((c) => `<td>${escapeHtml(String(c))}</td>`)
      .join(""),
  );
  return `<table class="timeline"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${body.map((b) => `<tr>${b}</tr>`).join("\n")}</tbody></table>`;
}

const CSS = `
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#202124;background:#fff}
body{margin:24px auto;max-width:1000px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5f6368;font-size:13px;margin-bottom:12px}
.verdict{display:inline-block;padding:4px 10px;border-radius:4px;font-weight:600;font-size:14px;margin:6px 0 12px}
.verdict.ok{background:#e6f4ea;color:#137333}.verdict.bad{background:#fce8e6;color:#a50e0e}
table{border-collapse:collapse;font-size:13px}
table.summary td{padding:3px 10px 3px 0;vertical-align:top}table.summary td:first-child{color:#5f6368;white-space:nowrap}
table.timeline{font-variant-numeric:tabular-nums}table.timeline td,table.timeline th{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}
figure.chart{margin:18px 0;position:relative}figcaption{font-weight:600;font-size:14px;margin-bottom:4px}
.legend{font-size:12px;margin-bottom:2px}.key{margin-right:14px;white-space:nowrap}.key i{display:inline-block;width:14px;height:3px;margin-right:5px;vertical-align:middle}
.plot{position:relative}svg{max-width:100%;height:auto;display:block}
svg .grid{stroke:#eceff1;stroke-width:1}svg .frame{fill:none;stroke:#bdc1c6}
svg .tick{font-size:11px;fill:#5f6368}svg .title{font-size:12px;fill:#3c4043}
svg .series{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
svg .marker line{stroke:#d93025;stroke-dasharray:3 3}svg .marker text{font-size:10px;fill:#d93025}
svg .cursor{stroke:#80868b;stroke-width:1}svg .hover{fill:transparent;cursor:crosshair}
.tip{position:absolute;top:8px;background:rgba(255,255,255,.95);border:1px solid #dadce0;border-radius:4px;padding:6px 8px;font-size:12px;pointer-events:none;white-space:nowrap;box-shadow:0 1px 3px rgba(0,0,0,.15)}
.tip b{display:block;margin-bottom:2px}.tip i{display:inline-block;width:10px;height:3px;margin-right:5px;vertical-align:middle}
details{margin:12px 0}summary{cursor:pointer;font-weight:600;font-size:14px}pre{font-size:12px;background:#f8f9fa;padding:8px;overflow:auto}
ul.notes{font-size:13px}
`;

/** Hover read-outs: the nearest point of each series to the pointer. */
const SCRIPT = `
for (const fig of document.querySelectorAll("figure.chart")) {
  const data = JSON.parse(fig.querySelector("script.hover-data").textContent);
  const svg = fig.querySelector("svg"), cursor = svg.querySelector(".cursor"), tip = fig.querySelector(".tip");
  const nearest = (pts, x) => { let lo = 0, hi = pts.length - 1; while (lo < hi) { const mid = (lo + hi) >> 1; if (pts[mid][0] < x) lo = mid + 1; else hi = mid; } return lo > 0 && x - pts[lo - 1][0] < pts[lo][0] - x ? pts[lo - 1] : pts[lo]; };
  svg.querySelector(".hover").addEventListener("mousemove", (ev) => {
    const m = svg.getScreenCTM(); if (!m) return;
    const x = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse()).x;
    const rows = data.filter((s) => s.points.length > 0).map((s) => [s, nearest(s.points, x)]);
    if (rows.length === 0) return;
    const at = rows[0][1];
    cursor.setAttribute("x1", at[0]); cursor.setAttribute("x2", at[0]); cursor.setAttribute("visibility", "visible");
    tip.replaceChildren();
    const head = document.createElement("b"); head.textContent = at[1]; tip.append(head);
    for (const [s, p] of rows) { const line = document.createElement("div"); const key = document.createElement("i"); key.style.background = s.color; line.append(key, s.name + ": " + p[2]); tip.append(line); }
    tip.hidden = false;
    const box = svg.getBoundingClientRect(), left = ev.clientX - box.left;
    tip.style.left = (left > box.width / 2 ? left - tip.offsetWidth - 12 : left + 12) + "px";
  });
  svg.querySelector(".hover").addEventListener("mouseleave", () => { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); });
}
`;

export function renderReport(r: LoadtestResult): string {
  const ok = r.exitCode === 0;
  const summary = summaryRows(r)
    .map(([l, v]) => `<tr><td>${escapeHtml(l)}</td><td>${escapeHtml(v)}</td></tr>`)
    .join("\n");
  const latencyCharts = METRICS.filter((m) => r.timeline.some((x) => x.latency[m] !== undefined)).map((m) => latencyOverTime(r, m));
  const hasLatency = METRICS.some((m) => (r.latency[m]?.curve.length ?? 0) > 0);
  const json = JSON.stringify(r, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v)).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>tierstream loadtest ${escapeHtml(r.scenario)} — ${escapeHtml(r.startedAt)}</title>
<style>${CSS}</style></head>
<body>
<h1>tierstream loadtest: ${escapeHtml(r.scenario)}</h1>
<div class="sub">${escapeHtml(r.startedAt)} · ${escapeHtml(r.machine.nproc + " CPU × " + r.machine.cpuModel)} · Bun ${escapeHtml(r.machine.bun)} · nats-server ${escapeHtml(r.machine.natsServer)}<br><code>${escapeHtml(r.command)}</code></div>
<div class="verdict ${ok ? "ok" : "bad"}">${escapeHtml(verdictWords(r))}</div>
<table class="summary">${summary}</table>
<h2>Throughput</h2>
${throughputChart(r)}
<h2>Latency over time</h2>
${latencyCharts.join("\n") || "<p>No latency was measured.</p>"}
<h2>Latency distribution</h2>
${hasLatency ? distributionChart(r) : "<p>No latency was measured.</p>"}
${r.notes.length > 0 ? `<h2>Notes</h2><ul class="notes">${r.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>` : ""}
<details><summary>Every second</summary>${timelineTable(r)}</details>
<details><summary>Options</summary><pre>${escapeHtml(JSON.stringify({ options: r.options, settings: r.settings, target: r.target }, null, 2))}</pre></details>
<script type="application/json" id="result">${json}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
