// The system under test when no --nats is given: a nats-server (JetStream in a temporary
// folder), N engine processes splitting the partitions, and a gateway — each the real
// `tierstream` CLI in a process of its own, its output in <out>/logs/. The engines keep
// snapshots, so a killed one restarts as a production one would. Stopped in reverse order.

import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort, type NatsServerHandle, startNatsServer } from "../../scripts/nats-server.ts";
import { parentDeathPrefix } from "../stack/children.ts";
import { waitEnginesReady } from "./engine-stats.ts";

const CLI = join(import.meta.dir, "..", "..", "scripts", "cli.ts");
const READY_DEADLINE_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const GATEWAY_POLL_MS = 100;

export interface LocalStackOptions {
  engines: number;
  partitions: number;
  gateway: boolean;
  /** The engines' and gateway's --config, when one was given. */
  configPath?: string;
  logDir: string;
  log(msg: string): void;
}

/** An engine process of the stack; kill() and start() are what the chaos scenario does to it. */
export interface EngineProcess {
  readonly index: number;
  /** The partitions it owns, as --partitions takes them. */
  readonly partitions: string;
  readonly pid: number;
  readonly running: boolean;
  kill(): Promise<void>;
  start(): void;
}

export interface LocalStack {
  nats: NatsServerHandle;
  natsUrl: string;
  engines: EngineProcess[];
  /** http://127.0.0.1:<port> of the gateway; empty without one. */
  gatewayUrls: string[];
  jwtSecret: string;
  readKey: string;
  /** A key with the read and claim scopes (the drop scenario's claims). */
  claimKey: string;
  stop(): Promise<void>;
}

/** Contiguous ranges of partitions, one per engine. */
export function splitPartitions(partitions: number, engines: number): string[] {
  if (!(engines >= 1 && engines <= partitions)) throw new RangeError(`engines 1 … ${partitions}`);
  return Array.from({ length: engines }, (_, i) => {
    const lo = Math.floor((i * partitions) / engines);
    const hi = Math.floor(((i + 1) * partitions) / engines) - 1;
    return lo === hi ? String(lo) : `${lo}-${hi}`;
  });
}

function spawnCli(args: string[], logPath: string, env: Record<string, string>): Bun.Subprocess {
  const fd = openSync(logPath, "a");
  try {
    return Bun.spawn([...parentDeathPrefix(), process.execPath, CLI, ...args], {
      stdin: "ignore",
      stdout: fd,
      stderr: fd,
      env: { ...process.env, ...env },
    });
  } finally {
    closeSync(fd);
  }
}

async function stopProcess(p: Bun.Subprocess | null): Promise<void> {
  if (p === null || p.exitCode !== null || p.signalCode !== null) return;
  p.kill("SIGTERM");
  // A cleared timer, not Bun.sleep: a pending sleep would keep this process alive after the run.
  const killer = setTimeout(() => p.kill("SIGKILL"), STOP_GRACE_MS);
  await p.exited;
  clearTimeout(killer);
}

export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  mkdirSync(o.logDir, { recursive: true });
  const jwtSecret = randomBytes(24).toString("base64url");
  const readKey = `loadtest-read-${randomBytes(9).toString("base64url")}`;
  const claimKey = `loadtest-claim-${randomBytes(9).toString("base64url")}`;
  const snapshots = mkdtempSync(join(tmpdir(), "tierstream-loadtest-snapshots-"));
  const configArgs = o.configPath === undefined ? [] : ["--config", o.configPath];
  // The engines' config comes from --config only, never from this shell's TIERSTREAM_CONFIG.
  const env = { TIERSTREAM_CONFIG: "", TIERSTREAM_PARTITIONS: "" };
  const nats = await startNatsServer();
  o.log(`local stack: nats-server ${nats.url} (pid ${nats.pid})`);
  const procs: (Bun.Subprocess | null)[] = [];
  let gateway: Bun.Subprocess | null = null;
  let nc: NatsConnection | null = null;

  const engines: EngineProcess[] = splitPartitions(o.partitions, o.engines).map((partitions, index) => {
    const args = ["engine", "--nats", nats.url, "--partitions", partitions, "--snapshots", snapshots, ...configArgs];
    const logPath = join(o.logDir, `engine-${index}.log`);
    procs[index] = null;
    return {
      index,
      partitions,
      get pid() {
        return procs[index]?.pid ?? -1;
      },
      get running() {
        const p = procs[index];
        return p !== null && p.exitCode === null && p.signalCode === null;
      },
      async kill() {
        const p = procs[index];
        if (p === null) return;
        p.kill("SIGKILL");
        await p.exited;
      },
      start() {
        procs[index] = spawnCli(args, logPath, env);
      },
    };
  });

  const stop = async () => {
    await stopProcess(gateway);
    for (const p of procs) await stopProcess(p);
    await nc?.close().catch(() => {});
    await nats.cleanup();
    rmSync(snapshots, { recursive: true, force: true });
  };

  try {
    for (const e of engines) e.start();
    nc = await connect({ servers: nats.url, name: "tierstream-loadtest-stack" });
    await waitEnginesReady(nc, o.partitions, READY_DEADLINE_MS);
    o.log(`local stack: ${o.engines} engine process${o.engines === 1 ? "" : "es"} (pids ${engines.map((e) => e.pid).join(", ")}) own ${o.partitions} partitions, caught up`);
    const gatewayUrls: string[] = [];
    if (o.gateway) {
      const port = await freePort();
      gateway = spawnCli(["gateway", "--nats", nats.url, "--port", String(port), ...configArgs], join(o.logDir, "gateway.log"), {
        ...env,
        TIERSTREAM_JWT_SECRET: jwtSecret,
        TIERSTREAM_API_KEYS: `${readKey}:read;${claimKey}:read,claim`,
      });
      const url = `http://127.0.0.1:${port}`;
      await waitGatewayReady(url, gateway);
      gatewayUrls.push(url);
      o.log(`local stack: gateway ${url} (pid ${gateway.pid}), ready`);
    }
    return { nats, natsUrl: nats.url, engines, gatewayUrls, jwtSecret, readKey, claimKey, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitGatewayReady(url: string, proc: Bun.Subprocess): Promise<void> {
  const until = performance.now() + READY_DEADLINE_MS;
  while (performance.now() < until) {
    if (proc.exitCode !== null) throw new Error(`the gateway exited (code ${proc.exitCode}) before it was ready; see its log`);
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(GATEWAY_POLL_MS);
  }
  throw new Error(`the gateway at ${url} was not ready after ${READY_DEADLINE_MS / 1000} s`);
}
