// Open-loop HTTP load at a fixed rate. Requests go out on schedule whatever the answers do, and
// each latency counts from the moment its request was due, so a stall shows in full (no
// coordinated omission). A closed loop such as wrk measures latency at whatever rate the
// server sustains — for an SLO stated at a rate ("p99 ≤ 5 ms at 100 000 checks/s") this is
// the measurement at that rate.

import { LatencyRecorder, type LatencySummary } from "./stack/latency.ts";

export interface PacedRequest {
  path: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
}

export interface PacedResult {
  /** Requests due in the window, and of them sent (the rest were over inFlightMax). */
  due: number;
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** Requests answered per second over the window. */
  answeredPerS: number;
  latency: LatencySummary;
  /** How late the sender itself was (sent − due): its own stalls, counted in `latency` too. */
  sendLateness: LatencySummary;
}

export async function pacedHttp(o: {
  baseUrl: string;
  ratePerS: number;
  durationS: number;
  request: (i: number) => PacedRequest;
  /** Requests in flight at most; one due beyond it is not sent and counts as an error. */
  inFlightMax?: number;
}): Promise<PacedResult> {
  const intervalMs = 1000 / o.ratePerS;
  const inFlightMax = o.inFlightMax ?? 1024;
  const latency = new LatencyRecorder();
  const lateness = new LatencyRecorder();
  const r = { due: 0, sent: 0, ok: 0, non2xx: 0, errors: 0 };
  const pending = new Set<Promise<void>>();
  const t0 = performance.now();
  const endMs = t0 + o.durationS * 1000;
  for (let i = 0; ; i++) {
    const dueAt = t0 + i * intervalMs;
    if (dueAt >= endMs) break;
    const waitMs = dueAt - performance.now();
    if (waitMs > 0.5) await Bun.sleep(waitMs);
    r.due++;
    if (pending.size >= inFlightMax) {
      r.errors++;
      latency.record(performance.now() - dueAt);
      continue;
    }
    const q = o.request(i);
    r.sent++;
    const sentAt = performance.now();
    lateness.record(sentAt - dueAt);
    // Late: counted from when it was due (its wait is the server's backlog or ours). Early (the
    // sleep's granularity sends up to 0.5 ms ahead): counted from when it went.
    const from = Math.min(dueAt, sentAt);
    const p: Promise<void> = fetch(o.baseUrl + q.path, { method: q.method, headers: q.headers, body: q.body })
      .then(async (res) => {
        await res.arrayBuffer();
        latency.record(performance.now() - from);
        if (res.ok) r.ok++;
        else r.non2xx++;
      })
      .catch(() => {
        r.errors++;
        latency.record(performance.now() - from);
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
  return { ...r, answeredPerS: (r.ok + r.non2xx) / o.durationS, latency: latency.summary(), sendLateness: lateness.summary() };
}
