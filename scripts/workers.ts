// `tierstream engine --workers N`: N auto engine processes under one supervisor, so one machine
// uses every core (each Bun process applies orders on one thread). The workers share the
// partitions through leases like any other engines; a worker that dies is started again after
// a pause, and its partitions are taken by the others meanwhile. SIGTERM/SIGINT: every worker
// hands off and drains; the supervisor exits when they have.

import type { Subprocess } from "bun";
import { join } from "node:path";
import type { Logger } from "../engine/log.ts";
import { untilSignal } from "./commands/command.ts";

const CLI = join(import.meta.dir, "cli.ts");
const RESTART_PAUSE_MS = 1000;

export async function superviseWorkers(count: number, args: string[], log: Logger): Promise<number> {
  let stopping = false;
  const workers: (Subprocess | null)[] = new Array(count).fill(null);
  const start = (i: number) => {
    const proc = Bun.spawn([process.execPath, CLI, "engine", ...args], { stdout: "inherit", stderr: "inherit", env: process.env });
    workers[i] = proc;
    void proc.exited.then((code) => {
      if (stopping) return;
      log.warn(`worker ${i} (pid ${proc.pid}) exited with ${code ?? proc.signalCode}; starting it again in ${RESTART_PAUSE_MS} ms`);
      setTimeout(() => {
        if (!stopping) start(i);
      }, RESTART_PAUSE_MS);
    });
  };
  for (let i = 0; i < count; i++) start(i);
  log.info(`${count} engine workers started (pids ${workers.map((w) => w?.pid).join(", ")})`);
  const signal = await untilSignal();
  stopping = true;
  log.info(`${signal}: stopping ${count} workers`);
  for (const w of workers) w?.kill("SIGTERM");
  const codes = await Promise.all(workers.map((w) => w?.exited ?? 0));
  return codes.every((c) => c === 0) ? 0 : 1;
}
