// The parent's side of a benchmark's helper processes (a gateway, an engine, WebSocket
// clients, an order publisher), each a Bun process of its own so that its CPU and memory are
// its own and so that the two ends of 15 000 loopback sockets sit in different processes
// (both count against the per-process open-file limit).
//
// A child is a role file (role.ts: serveRole) spoken to over Bun's IPC channel: one request
// at a time or several, each answered once, each bounded by a deadline. A child dies with its
// parent however the parent dies (setpriv --pdeathsig, as scripts/nats-server.ts does), and
// stop() ends it with SIGTERM and then SIGKILL.

import { dirname, join } from "node:path";
import type { RoleReply, RoleRequest } from "./role.ts";

const READY_DEADLINE_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** What the child said when it came up (its port, its url …). */
  readonly info: Record<string, unknown>;
  /** Sends a command and waits for its answer (rejects with the child's error, or at the deadline). */
  request<T = unknown>(cmd: string, args?: unknown, deadlineMs?: number): Promise<T>;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
  stop(): Promise<void>;
}

const ROLE_DIR = import.meta.dir;
const live = new Set<Bun.Subprocess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous by necessity; setpriv's parent-death signal is the backstop for crashes.
  process.on("exit", () => {
    for (const p of live) p.kill("SIGKILL");
  });
}

/** setpriv --pdeathsig KILL --: a process started with it dies with this one, however this one dies. */
let pdeathPrefix: string[] | undefined;
export function parentDeathPrefix(): string[] {
  if (pdeathPrefix === undefined) {
    const setpriv = process.platform === "linux" ? Bun.which("setpriv") : null;
    pdeathPrefix = setpriv === null ? [] : [setpriv, "--pdeathsig", "KILL", "--"];
  }
  return pdeathPrefix;
}

/**
 * TIERSTREAM_PROFILE_ROLES=engine-role,gateway-role writes a CPU profile (Markdown) of each
 * named role into TIERSTREAM_PROFILE_DIR (default .bench/profiles) when it stops.
 */
function profileFlags(role: string): string[] {
  const roles = (process.env.TIERSTREAM_PROFILE_ROLES ?? "").split(",");
  if (!roles.includes(role)) return [];
  const dir = process.env.TIERSTREAM_PROFILE_DIR ?? join(import.meta.dir, "..", "..", ".bench", "profiles");
  return ["--cpu-prof-md", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${role}-${Date.now()}.md`];
}

/** Starts `loadtest/stack/<role>.ts` with `args` and waits for it to say it is ready. */
export async function spawnRole(role: string, args: readonly string[] = [], env: Record<string, string> = {}): Promise<Child> {
  installExitHook();
  const file = join(ROLE_DIR, `${role}.ts`);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  let nextId = 1;
  let ready: ((info: Record<string, unknown>) => void) | null = null;
  const readyInfo = new Promise<Record<string, unknown>>((resolve) => (ready = resolve));
  const proc = Bun.spawn([...parentDeathPrefix(), process.execPath, ...profileFlags(role), file, ...args], {
    cwd: join(dirname(file), "..", ".."),
    // A child's stdout goes to our stderr: the bench's stdout carries only its figures.
    stdio: ["ignore", 2, "inherit"],
    env: { ...process.env, ...env },
    serialization: "json",
    ipc(message: RoleReply) {
      if (message.kind === "ready") return ready?.(message.info);
      const waiter = pending.get(message.id);
      if (waiter === undefined) return;
      pending.delete(message.id);
      clearTimeout(waiter.timer);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`${role}: ${message.error}`));
    },
  });
  live.add(proc);
  void proc.exited.then((code) => {
    live.delete(proc);
    for (const [id, w] of pending) {
      clearTimeout(w.timer);
      w.reject(new Error(`${role} exited (code ${code}) before answering`));
      pending.delete(id);
    }
  });

  // A cleared timer, not Bun.sleep: a pending sleep would keep the parent alive after its work.
  let readyTimer: ReturnType<typeof setTimeout> | undefined;
  const info = await Promise.race([
    readyInfo,
    proc.exited.then((code) => Promise.reject(new Error(`${role} exited (code ${code}) before it was ready`))),
    new Promise<never>((_, reject) => {
      readyTimer = setTimeout(() => reject(new Error(`${role} not ready after ${READY_DEADLINE_MS / 1000} s`)), READY_DEADLINE_MS);
    }),
  ])
    .catch(async (err: unknown) => {
      proc.kill("SIGKILL");
      await proc.exited;
      throw err;
    })
    .finally(() => clearTimeout(readyTimer));

  let stopping: Promise<void> | null = null;
  return {
    name: role,
    pid: proc.pid,
    info,
    request<T>(cmd: string, args?: unknown, deadlineMs = 60_000): Promise<T> {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.reject(new Error(`${role} is not running`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${role}: ${cmd} not answered after ${Math.round(deadlineMs / 1000)} s`));
        }, deadlineMs);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        const req: RoleRequest = { id, cmd, args };
        proc.send(req);
      });
    },
    stop() {
      stopping ??= (async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill("SIGTERM");
        const killer = setTimeout(() => proc.kill("SIGKILL"), STOP_GRACE_MS);
        await proc.exited;
        clearTimeout(killer);
      })();
      return stopping;
    },
  };
}

/** Stops every child given, in order, never throwing (cleanup paths). */
export async function stopAll(children: readonly (Child | null | undefined)[]): Promise<void> {
  for (const c of children) await c?.stop().catch(() => {});
}
