import { describe, expect, test } from "bun:test";
import { settledLatency } from "../loadtest/bench/gateway-feed-latency.ts";
import { probeId } from "../loadtest/stack/probe-id.ts";

describe("feed bench: the latency of probes sent once the load has settled", () => {
  test("only probes sent ≥ 2 s after the window's first count, each as arrival − its send time", () => {
    const t0 = 1_800_000_000_000;
    const arrival = (seq: number, sentMs: number, latencyMs: number) => [probeId("target", seq, sentMs), seq, sentMs + latencyMs, -1] as const;
    const arrived = [
      arrival(0, t0, 500), // the step up: left out
      arrival(1, t0 + 1_999, 400), // left out
      arrival(2, t0 + 2_000, 7),
      arrival(3, t0 + 5_000, 3),
      arrival(4, t0 + 9_000, 5),
    ];
    const s = settledLatency(arrived)!;
    expect(s.count).toBe(3);
    expect(s.maxMs).toBeCloseTo(7, 1);
    expect(s.minMs).toBeCloseTo(3, 1);
  });

  test("the window's first probe is the earliest sent, not the first to arrive; none settled is null", () => {
    const t0 = 1_800_000_000_000;
    const late = [probeId("half", 0, t0), 0, t0 + 3_000, -1] as const; // sent first, arrived last
    const early = [probeId("half", 1, t0 + 2_500), 1, t0 + 2_510, -1] as const;
    expect(settledLatency([early, late])!.count).toBe(1);
    expect(settledLatency([late])).toBeNull();
    expect(settledLatency([])).toBeNull();
  });
});
