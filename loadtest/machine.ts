// The machine a figure was measured on, in the words BENCHMARKS.md prints.

import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";

export interface MachineInfo {
  /** `nproc`: the CPUs this process may use. */
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  bun: string;
  natsServer: string;
  os: string;
}

export function machineInfo(): MachineInfo {
  return {
    nproc: nproc(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    bun: `${Bun.version} (${Bun.revision.slice(0, 9)})`,
    natsServer: natsServerVersion(),
    os: `${process.platform} ${readFirstLine("/proc/sys/kernel/osrelease") ?? ""}`.trim(),
  };
}

/** The one line every row carries. */
export function machineLine(m: MachineInfo): string {
  return `${m.nproc} CPU × ${m.cpuModel}, ${m.memoryGiB} GiB`;
}

function nproc(): number {
  const out = Bun.spawnSync(["nproc"]);
  const n = Number(out.stdout.toString().trim());
  return out.exitCode === 0 && Number.isInteger(n) && n > 0 ? n : availableParallelism();
}

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"));
    return line?.split(":")[1]?.trim() || "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

/** The version of the nats-server on this machine, without installing one. */
function natsServerVersion(): string {
  const path = [Bun.which("nats-server"), "/usr/sbin/nats-server", "/usr/bin/nats-server"].find((p) => p != null && existsSync(p));
  if (path == null) return "not installed";
  const out = Bun.spawnSync([path, "--version"]);
  return out.exitCode === 0 ? out.stdout.toString().trim().replace(/^nats-server:\s*/, "") : "unknown";
}

function readFirstLine(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").split("\n")[0];
  } catch {
    return undefined;
  }
}
