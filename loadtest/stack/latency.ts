// The benchmarks' latency recorder: the load-test tool's HDR histogram (loadtest/run/histogram.ts)
// under the names the bench modules use — one histogram implementation for both.

import { LatencyHistogram, type LatencyStats } from "../run/histogram.ts";

export type LatencySummary = LatencyStats;

export class LatencyRecorder extends LatencyHistogram {
  summary(): LatencySummary {
    return this.stats();
  }
}
