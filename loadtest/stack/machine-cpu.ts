// CPU the whole machine spent, how much of it went to processes outside a benchmark, and how
// much the hypervisor took (steal): on a shared 2-core VM another session's tests or another
// guest change every figure, and this says whether that happened during a measurement.

import { readFileSync } from "node:fs";
import { processCpuS } from "../cpu-time.ts";

/** Linux's USER_HZ (see cpu-time.ts). */
const CLOCK_TICKS_PER_S = 100;

/**
 * CPU seconds the whole machine spent in processes so far: user, nice and system time. Interrupt
 * time is left out (loopback traffic is largely softirq, charged to no process), and so is steal.
 */
export function machineBusyCpuS(): number {
  return cpuFields((f) => f[0] + f[1] + f[2]);
}

/** CPU seconds the hypervisor gave to others while this VM wanted to run (steal). */
export function machineStealCpuS(): number {
  return cpuFields((f) => f[7] ?? 0);
}

/** The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal …, in seconds. */
function cpuFields(pick: (fields: number[]) => number): number {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    return pick(fields) / CLOCK_TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

/**
 * Starts measuring; the result gives, per wall second since, the machine's busy CPU and the
 * part of it not spent by `pids` (every process of the measurement, this one included, alive
 * at both ends) nor by processes that ended meanwhile and spent `endedOwnS` CPU seconds.
 */
export function foreignCpuSpan(pids: readonly number[]): (endedOwnS?: number) => { machine: number; foreign: number; steal: number } {
  const wall0 = performance.now();
  const busy0 = machineBusyCpuS();
  const steal0 = machineStealCpuS();
  const own0 = pids.map((p) => processCpuS(p));
  return (endedOwnS = 0) => {
    const wallS = (performance.now() - wall0) / 1000;
    let own = endedOwnS;
    pids.forEach((p, i) => {
      const d = processCpuS(p) - own0[i];
      if (Number.isFinite(d)) own += d;
    });
    const machine = (machineBusyCpuS() - busy0) / wallS;
    return { machine, foreign: Math.max(0, machine - own / wallS), steal: (machineStealCpuS() - steal0) / wallS };
  };
}
