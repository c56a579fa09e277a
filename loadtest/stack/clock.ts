// Latencies across processes are differences of two processes' wall clocks
// (performance.timeOrigin + performance.now(), sub-millisecond). On one machine both read the
// same kernel clock, so they agree up to how each process fixed its timeOrigin; this measures
// that: the child's clock minus ours at the midpoint of the fastest of a few IPC round trips.

import type { Child } from "./children.ts";
import { wallNowMs } from "./role.ts";

const SAMPLES = 20;

export interface ClockOffset {
  /** child − parent, ms; uncertain by ± rttMs / 2. */
  offsetMs: number;
  rttMs: number;
}

export async function clockOffset(child: Child): Promise<ClockOffset> {
  let best: ClockOffset = { offsetMs: Number.NaN, rttMs: Number.POSITIVE_INFINITY };
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = wallNowMs();
    const childMs = await child.request<number>("clock", undefined, 5_000);
    const t1 = wallNowMs();
    if (t1 - t0 < best.rttMs) best = { offsetMs: childMs - (t0 + t1) / 2, rttMs: t1 - t0 };
  }
  return best;
}
