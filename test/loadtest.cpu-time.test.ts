// The benchmarks' per-process CPU and run-queue readings, against real busy processes.

import { describe, expect, test } from "bun:test";
import { availableParallelism } from "node:os";
import { processCpuS, processRunQueueWaitS } from "../loadtest/cpu-time.ts";

const SPIN_MS = 600;

describe("per-process CPU and run-queue wait from /proc", () => {
  test("more busy processes than cores: they use CPU, and some wait for a core; a gone pid reads NaN", async () => {
    const n = availableParallelism() + 1;
    const spinners = Array.from({ length: n }, () => Bun.spawn(["sh", "-c", "while :; do :; done"], { stdout: "ignore" }));
    try {
      const pids = spinners.map((s) => s.pid);
      const cpu0 = pids.map(processCpuS);
      const wait0 = pids.map(processRunQueueWaitS);
      await Bun.sleep(SPIN_MS);
      const cpuS = pids.reduce((sum, pid, i) => sum + processCpuS(pid) - cpu0[i], 0);
      const waitS = pids.reduce((sum, pid, i) => sum + processRunQueueWaitS(pid) - wait0[i], 0);
      // n processes over n − 1 cores for SPIN_MS: ~(n − 1) × SPIN_MS of CPU, and someone waits.
      expect(cpuS).toBeGreaterThan(0.25 * (SPIN_MS / 1000));
      expect(waitS).toBeGreaterThan(0);
      expect(waitS).toBeLessThan(n * (SPIN_MS / 1000) * 2);
    } finally {
      for (const s of spinners) s.kill("SIGKILL");
      await Promise.all(spinners.map((s) => s.exited));
    }
    expect(processRunQueueWaitS(spinners[0].pid)).toBeNaN();
    expect(processCpuS(spinners[0].pid)).toBeNaN();
  });
});
