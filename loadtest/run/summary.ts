// The final table: the same rows in the terminal and at the top of the HTML report.

import { CAUSE_WORDS, type BehindCause, ms, num } from "./live-line.ts";
import type { LoadtestResult } from "./result.ts";
import { METRIC_NAMES, METRICS } from "./timeline.ts";

export type SummaryRow = [label: string, value: string];

export function summaryRows(r: LoadtestResult): SummaryRow[] {
  const rows: SummaryRow[] = [
    ["scenario", `${r.scenario} — ${r.summary}`],
    ["target", r.target.kind === "local" ? `local stack: nats-server, ${r.target.engines} engine process(es)${r.target.gatewayUrls.length > 0 ? ", a gateway" : ""}` : `${r.target.natsUrl}${r.target.gatewayUrls.length > 0 ? `, gateways ${r.target.gatewayUrls.join(", ")}` : ""}`],
    // A scenario that drives something other than orders (a drop's claims) says what in its own rows.
    ...((r.rows ?? []).length > 0 ? r.rows : orderRows(r)), // ?? []: a result.json from before rows
  ];
  for (const m of METRICS) {
    const s = r.latency[m];
    if (s === undefined) continue;
    rows.push([`${METRIC_NAMES[m]} latency`, `p50 ${ms(s.p50Ms)}  p90 ${ms(s.p90Ms)}  p99 ${ms(s.p99Ms)}  p99.9 ${ms(s.p999Ms)}  max ${ms(s.maxMs)} ms  (${num(s.count)} samples)`]);
  }
  if (r.probes !== null) {
    const p = r.probes;
    rows.push(["probes", `${num(p.received)} frames of ${num(p.sent)} probes sent (${num(p.members)} probe members, ${num(p.ratePerSec)}/s)${p.exhausted ? "; the probe members ran out of tiers" : ""}`]);
  }
  if (r.feed !== null) {
    const f = r.feed;
    const frames = Object.entries(f.framesByType).map(([k, v]) => `${k} ${num(v)}`).join(", ");
    rows.push(["feed", `${num(f.opened)} of ${num(f.connections)} connected in ${(f.openMs / 1000).toFixed(1)} s; frames: ${frames || "none"}`]);
  }
  for (const e of r.events) rows.push([`event at ${(e.tMs / 1000).toFixed(1)} s`, e.what]);
  for (const c of r.checks) rows.push([`check: ${c.name}`, `${c.pass ? "pass" : "FAIL"} — ${c.detail}`]);
  for (const s of r.slo.items) rows.push([`SLO ${s.name}`, `${s.pass ? "pass" : "MISSED"} — ${s.detail}`]);
  rows.push(["verdict", verdictWords(r)]);
  return rows;
}

function orderRows(r: LoadtestResult): SummaryRow[] {
  const t = r.totals;
  return [
    ["load", `${r.durationS} s, ${num(r.options.members)} members, seed ${r.options.seed}`],
    ["asked", `${num(t.requestedRate)} orders/s (${num(t.requested)} orders)`],
    ["sent", `${num(t.offeredRate)} orders/s (${num(t.offered)} orders in ${num(t.messages)} messages)`],
    ["acknowledged", `${num(t.achievedRate)} orders/s within the load (${num(t.acked)} in all)`],
    ["applied by the engines", t.applied === null ? "– (no engine answered tierstream.engine.stats)" : `${num(t.applied)} events (${r.drain.applied === false ? "NOT all caught up by the end of the drain" : "caught up"})`],
    ["errors", t.errors === 0 ? "0" : `${num(t.errors)} orders (first: ${t.firstError})`],
    [
      "kept up",
      t.behindSeconds === 0
        ? "yes: every second sent ≥ 98 % of its asked rate"
        : `NO: ${t.behindSeconds} of ${r.durationS} s behind — ${Object.entries(t.behindCauses)
            .map(([c, n]) => `${n} s: ${CAUSE_WORDS[c as BehindCause]}`)
            .join("; ")}`,
    ],
  ];
}

export function verdictWords(r: LoadtestResult): string {
  if (r.interruptedAtS !== null) return `INTERRUPTED after ${r.interruptedAtS.toFixed(1)} s (exit 130): the figures cover what ran`;
  if (r.exitCode === 4) return "FAILED: a check failed (exit 4)";
  if (r.exitCode === 3) return `SLO MISSED (exit 3): ${r.slo.items.filter((s) => !s.pass).map((s) => s.detail).join("; ")}`;
  return r.slo.items.length === 0 ? "done (no SLO given)" : "SLO met";
}

/** The rows as a two-column text table. */
export function summaryTable(rows: readonly SummaryRow[]): string {
  const width = Math.max(...rows.map(([l]) => l.length));
  const rule = "─".repeat(Math.min(120, Math.max(...rows.map(([, v]) => width + 2 + v.length))));
  return [rule, ...rows.map(([l, v]) => `${l.padEnd(width)}  ${v}`), rule].join("\n");
}
