// CPU seconds used by this process and by another (nats-server), so a benchmark can say which
// side of a loopback pair was the bottleneck on a small machine.

import { readdirSync, readFileSync } from "node:fs";

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on every mainstream kernel. */
const CLOCK_TICKS_PER_S = 100;

/** CPU seconds (user + system) of `pid` so far; NaN when it cannot be read. */
export function processCpuS(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S; // utime, stime
  } catch {
    return Number.NaN;
  }
}

/**
 * Seconds the threads of `pid` have spent runnable but waiting for a core, so far (the
 * second field of each /proc/<pid>/task/<tid>/schedstat, ns; threads that ended are not
 * counted); NaN when it cannot be read. On a machine with fewer cores than busy threads,
 * this is where latency goes that no profile of the process shows.
 */
export function processRunQueueWaitS(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return ns / 1e9;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds of this process so far. */
export function selfCpuS(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export interface CpuSpan {
  wallS: number;
  selfS: number;
  otherS: number;
}

/** Starts measuring; call the result to read wall and CPU seconds since. */
export function cpuSpan(otherPid: number): () => CpuSpan {
  const wall0 = performance.now();
  const self0 = selfCpuS();
  const other0 = processCpuS(otherPid);
  return () => ({
    wallS: (performance.now() - wall0) / 1000,
    selfS: selfCpuS() - self0,
    otherS: processCpuS(otherPid) - other0,
  });
}
