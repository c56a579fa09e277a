// A load-test result with known figures, made without a run: for the report's numbers and
// the HTML report in Chromium.

import { steadyProfile } from "../../loadtest/run/rate-profile.ts";
import { type LoadtestOptions } from "../../loadtest/run/options.ts";
import { buildResult, type LoadtestResult } from "../../loadtest/run/result.ts";
import type { LoadOutcome } from "../../loadtest/run/run-load.ts";
import { Timeline } from "../../loadtest/run/timeline.ts";

export const SYNTHETIC_SECONDS = 10;
export const SYNTHETIC_RATE = 1000;

export function syntheticOptions(o: Partial<LoadtestOptions> = {}): LoadtestOptions {
  return {
    rate: SYNTHETIC_RATE,
    durationS: SYNTHETIC_SECONDS,
    members: 1000,
    lines: { taobao: 1 },
    connections: 10,
    probeMembers: 10,
    probeRate: null,
    natsUrl: null,
    gatewayUrls: [],
    jwtSecret: "a-secret-that-must-not-be-written",
    configPath: undefined,
    engines: 1,
    gateway: true,
    seed: 1,
    outDir: null,
    sloP99Ms: null,
    sloMinRate: null,
    ordersPerMessage: 256,
    inFlightMax: 4096,
    drainS: 30,
    ...o,
  };
}

/**
 * Ten seconds at 1 000 orders/s, all sent and acknowledged in their second; second s has
 * 100 ack samples of (s + 1) × 1 … 100 µs·10 (so its p50 is 0.5 × (s + 1) ms), and 10 probe
 * frames of 10 × (s + 1) ms; the engines applied everything; a drain second at the end.
 */
export function syntheticOutcome(): LoadOutcome {
  const profile = steadyProfile(SYNTHETIC_RATE, SYNTHETIC_SECONDS);
  const t = new Timeline();
  t.requestFrom(profile);
  for (let s = 0; s < SYNTHETIC_SECONDS; s++) {
    const at = s * 1000 + 500;
    t.count("offered", at, SYNTHETIC_RATE);
    t.count("acked", at, SYNTHETIC_RATE);
    t.count("applied", at, SYNTHETIC_RATE);
    t.count("ticks", at, 100);
    t.count("busyMs", at, 50);
    t.count("cpuMs", at, 80);
    for (let k = 1; k <= 100; k++) t.latency("ack", at, (s + 1) * k * 0.01);
    for (let k = 0; k < 10; k++) t.latency("e2e", at, 10 * (s + 1));
  }
  t.count("applied", SYNTHETIC_SECONDS * 1000 + 500, 0);
  return {
    timeline: t,
    profile,
    durationS: SYNTHETIC_SECONDS,
    interruptedAtS: null,
    startedAt: "2026-01-01T00:00:00.000Z",
    events: [{ tMs: 4000, what: "SIGKILL engine 0 (pid 1, partitions 0-63)" }],
    offered: SYNTHETIC_SECONDS * SYNTHETIC_RATE,
    ackedInWindow: SYNTHETIC_SECONDS * SYNTHETIC_RATE,
    messages: 2000,
    firstError: null,
    probes: { members: 10, ratePerSec: 10, capacity: 50, sent: 100, acked: 100, errors: 0, received: 100, exhausted: false },
    feed: null,
    drain: { ms: 1000, acks: true, applied: true, probes: true },
  };
}

export const SYNTHETIC_MACHINE = { nproc: 2, cpuModel: "test CPU", memoryGiB: 1, bun: "test", natsServer: "test", os: "test" };

export function syntheticResult(o: Partial<LoadtestOptions> = {}): LoadtestResult {
  return buildResult({
    scenario: "steady",
    summary: "a synthetic run",
    command: "tierstream loadtest steady --synthetic",
    options: syntheticOptions(o),
    target: { kind: "local", natsUrl: "nats://127.0.0.1:4222", gatewayUrls: ["http://127.0.0.1:8080"], engines: 1 },
    outcome: { load: syntheticOutcome(), checks: [], notes: ["a note"], settings: {} },
    machine: SYNTHETIC_MACHINE,
  });
}
