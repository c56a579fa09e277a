/**
 * Throwaway nats-server processes for tests, benchmarks and local runs.
 *
 * Every server gets its own temp folder (config, log, and the JetStream store
 * unless one is given), binds only 127.0.0.1, and is SIGKILLed when this
 * process exits, so a crashed test run never leaves a server behind.
 *
 * Run directly: `bun scripts/nats-server.ts [--port N] [--cluster 3]`.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const readyTimeoutMs = 10_000;
const readyPollIntervalMs = 25;
const probeTimeoutMs = 500;
const stopGraceMs = 5_000;
const logTailLinesMax = 20;
// Ports come from freePort() and are bound by the server a moment later; on a
// clash (another process took the port in between) we pick new ones.
const startAttemptsMax = 3;
const installHint = "nats-server is not installed; install it with: sudo apt-get install -y nats-server";

export interface NatsServerOptions {
  jetStream?: boolean;
  storeDir?: string;
  port?: number;
  clusterName?: string;
  clusterPort?: number;
  routes?: string[];
  serverName?: string;
  logFile?: string;
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly clusterPort: number | undefined;
  readonly storeDir: string;
  /** Changes on restart(); -1 while stopped. */
  readonly pid: number;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface NatsCluster {
  urls: string[];
  servers: NatsServerHandle[];
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

// ---------------------------------------------------------------- binary

let binaryPath: string | undefined;

export function ensureNatsServer(): string {
  binaryPath ??= findNatsServer() ?? installNatsServer();
  return binaryPath;
}

function findNatsServer(): string | undefined {
  // /usr/sbin is where Debian puts it, and it is often not on a user's PATH.
  const candidates = [Bun.which("nats-server"), "/usr/sbin/nats-server", "/usr/bin/nats-server"];
  return candidates.find((path): path is string => path != null && existsSync(path));
}

function installNatsServer(): string {
  const aptGet = Bun.which("apt-get");
  if (process.getuid?.() !== 0 || aptGet == null) throw new Error(installHint);
  console.error("nats-server not found; installing it with apt-get install nats-server");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => Bun.spawnSync([aptGet, "install", "-y", "-qq", "nats-server"], { env });
  // A fresh image has no package lists; update only when the cached ones fail us.
  if (install().exitCode !== 0) {
    Bun.spawnSync([aptGet, "update", "-qq"], { env });
    const retry = install();
    if (retry.exitCode !== 0) {
      console.error(`apt-get install nats-server failed: ${lastLine(retry.stderr.toString())}`);
      throw new Error(installHint);
    }
  }
  const path = findNatsServer();
  if (path == null) throw new Error(installHint);
  return path;
}

// ---------------------------------------------------------------- ports

// Ports handed out but maybe not bound yet, so concurrent starts in this
// process never get the same one.
const portsHandedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
        const address = server.address();
        server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
      });
    });
    if (!portsHandedOut.has(port)) {
      portsHandedOut.add(port);
      return port;
    }
  }
}

// ---------------------------------------------------------------- one server

// What to tear down if this process exits without cleanup() (a failed test,
// process.exit): 'exit' handlers must be synchronous, so SIGKILL and rmSync.
const liveProcesses = new Set<Bun.Subprocess>();
const ownedWorkDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const live of liveProcesses) live.kill("SIGKILL");
    for (const dir of ownedWorkDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // A dying server may still be writing; a leftover temp dir is harmless.
      }
    }
  });
}

function killOnExit(proc: Bun.Subprocess): void {
  installExitHook();
  liveProcesses.add(proc);
  void proc.exited.then(() => liveProcesses.delete(proc));
}

/**
 * `bun test` never runs 'exit' listeners, so the kernel has to do it: setpriv
 * (util-linux, on every Debian) sets PR_SET_PDEATHSIG and execs the server,
 * which is SIGKILLed when we die, however we die. Without setpriv we rely on
 * the 'exit' hook and on cleanup().
 */
let pdeathPrefix: string[] | undefined;
function parentDeathPrefix(): string[] {
  if (pdeathPrefix == null) {
    const setpriv = process.platform === "linux" ? Bun.which("setpriv") : null;
    pdeathPrefix = setpriv == null ? [] : [setpriv, "--pdeathsig", "KILL", "--"];
  }
  return pdeathPrefix;
}

function makeWorkDir(): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), "tierstream-nats-"));
  ownedWorkDirs.add(dir);
  return dir;
}

function removeWorkDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  ownedWorkDirs.delete(dir);
}

interface ServerLayout {
  port: number;
  monitorPort: number;
  clusterPort: number | undefined;
  storeDir: string;
  configPath: string;
  logPath: string;
  jetStream: boolean;
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = ensureNatsServer();
  const workDir = makeWorkDir();
  let lastError: unknown;
  for (let attempt = 1; attempt <= startAttemptsMax; attempt++) {
    const layout = await planLayout(opts, workDir);
    try {
      const proc = await spawnReady(binary, layout);
      return makeHandle(binary, layout, workDir, proc);
    } catch (error) {
      lastError = error;
      const clash = String(error).includes("address already in use");
      const portsAreOurs = opts.port == null && opts.clusterPort == null;
      if (!clash || !portsAreOurs) break;
    }
  }
  removeWorkDir(workDir);
  throw lastError;
}

async function planLayout(opts: NatsServerOptions, workDir: string): Promise<ServerLayout> {
  const layout: ServerLayout = {
    port: opts.port ?? (await freePort()),
    monitorPort: await freePort(),
    clusterPort: opts.clusterName == null ? undefined : (opts.clusterPort ?? (await freePort())),
    storeDir: opts.storeDir ?? join(workDir, "store"),
    configPath: join(workDir, "nats.conf"),
    logPath: opts.logFile ?? join(workDir, "nats.log"),
    jetStream: opts.jetStream ?? true,
  };
  writeFileSync(layout.configPath, renderConfig(opts, layout));
  return layout;
}

/**
 * TIERSTREAM_NATS_PROF_PORT=6061: the server serves Go's pprof there (/debug/pprof/profile),
 * to see where nats-server's CPU goes under a benchmark's load. One port: for runs that start
 * one server at a time (the stack benchmarks), not the tests.
 */
function profPortLines(): string[] {
  const raw = process.env.TIERSTREAM_NATS_PROF_PORT;
  if (raw === undefined || raw === "") return [];
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`TIERSTREAM_NATS_PROF_PORT must be a port number, got ${JSON.stringify(raw)}`);
  return [`prof_port: ${port}`];
}

function renderConfig(opts: NatsServerOptions, layout: ServerLayout): string {
  const lines = [
    `listen: 127.0.0.1:${layout.port}`,
    `http: 127.0.0.1:${layout.monitorPort}`,
    `server_name: ${JSON.stringify(opts.serverName ?? `tierstream-${layout.port}`)}`,
    ...profPortLines(),
  ];
  if (layout.jetStream) {
    lines.push(`jetstream { store_dir: ${JSON.stringify(layout.storeDir)}, max_memory_store: 1GB, max_file_store: 20GB }`);
  }
  if (opts.clusterName != null) {
    const routes = (opts.routes ?? []).map((route) => (route.includes("://") ? route : `nats-route://${route}`));
    lines.push(
      "cluster {",
      `  name: ${JSON.stringify(opts.clusterName)}`,
      `  listen: 127.0.0.1:${layout.clusterPort}`,
      `  routes: [${routes.join(", ")}]`,
      "}",
    );
  }
  return lines.join("\n") + "\n";
}

async function spawnReady(binary: string, layout: ServerLayout): Promise<Bun.Subprocess> {
  // The log goes to a file, not a pipe: an undrained pipe would block the server.
  const logFd = openSync(layout.logPath, "a");
  let proc: Bun.Subprocess;
  try {
    proc = Bun.spawn([...parentDeathPrefix(), binary, "-c", layout.configPath], {
      stdin: "ignore",
      stdout: logFd,
      stderr: logFd,
    });
  } finally {
    closeSync(logFd);
  }
  killOnExit(proc);
  let exitCode: number | undefined;
  void proc.exited.then((code) => (exitCode = code));
  const deadlineMs = Date.now() + readyTimeoutMs;
  while (exitCode === undefined && Date.now() < deadlineMs) {
    if (await isReady(layout)) return proc;
    await Bun.sleep(readyPollIntervalMs);
  }
  const why = exitCode === undefined ? `not ready after ${readyTimeoutMs} ms` : `exited with code ${exitCode}`;
  proc.kill("SIGKILL");
  await proc.exited;
  throw new Error(`nats-server on port ${layout.port} ${why}; last log lines:\n${logTail(layout.logPath)}`);
}

/**
 * Ready = the client port accepts a TCP connection and /healthz says JetStream
 * is enabled. The monitor starts before the client listener, so /healthz alone
 * can answer first. `js-enabled-only` does not wait for a meta leader, which a
 * cluster node cannot have until its peers are up; startNatsCluster waits for that.
 */
async function isReady(layout: ServerLayout): Promise<boolean> {
  if (!(await acceptsTcp(layout.port))) return false;
  const query = layout.jetStream ? "?js-enabled-only=true" : "";
  try {
    const res = await fetch(`http://127.0.0.1:${layout.monitorPort}/healthz${query}`, {
      signal: AbortSignal.timeout(probeTimeoutMs),
    });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function acceptsTcp(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

function makeHandle(binary: string, layout: ServerLayout, workDir: string, first: Bun.Subprocess): NatsServerHandle {
  let proc: Bun.Subprocess | undefined = first;
  let cleanedUp = false;

  async function stop(): Promise<void> {
    if (proc == null) return;
    const stopping = proc;
    proc = undefined;
    stopping.kill("SIGTERM");
    const timer = setTimeout(() => stopping.kill("SIGKILL"), stopGraceMs);
    await stopping.exited;
    clearTimeout(timer);
  }

  async function kill(): Promise<void> {
    if (proc == null) return;
    const killing = proc;
    proc = undefined;
    killing.kill("SIGKILL");
    await killing.exited;
  }

  return {
    url: `nats://127.0.0.1:${layout.port}`,
    port: layout.port,
    monitorPort: layout.monitorPort,
    clusterPort: layout.clusterPort,
    storeDir: layout.storeDir,
    get pid() {
      return proc?.pid ?? -1;
    },
    stop,
    kill,
    async restart() {
      if (cleanedUp) throw new Error("restart() after cleanup()");
      await stop();
      proc = await spawnReady(binary, layout);
    },
    async cleanup() {
      await stop();
      cleanedUp = true;
      removeWorkDir(workDir);
    },
  };
}

function logTail(logPath: string): string {
  try {
    return readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-logTailLinesMax).join("\n");
  } catch {
    return "(no log)";
  }
}

function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1) ?? "";
}

// ---------------------------------------------------------------- cluster

let clustersStarted = 0;

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`cluster size must be a positive integer, got ${size}`);
  const clusterName = `tierstream-${process.pid}-${++clustersStarted}`;
  const clusterPorts: number[] = [];
  for (let i = 0; i < size; i++) clusterPorts.push(await freePort());
  // Started together: each node only waits for its own JetStream, not for peers.
  const started = await Promise.allSettled(
    clusterPorts.map((clusterPort, i) =>
      startNatsServer({
        clusterName,
        clusterPort,
        serverName: `n${i + 1}`,
        routes: clusterPorts.filter((p) => p !== clusterPort).map((p) => `127.0.0.1:${p}`),
      }),
    ),
  );
  const servers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const cluster: NatsCluster = {
    urls: servers.map((s) => s.url),
    servers,
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
    async cleanup() {
      await Promise.all(servers.map((s) => s.cleanup()));
    },
  };
  try {
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    await waitForMetaGroup(servers);
  } catch (error) {
    await cluster.cleanup();
    throw error;
  }
  return cluster;
}

interface Jsz {
  meta_cluster?: { leader?: string; replicas?: { current?: boolean }[] };
}

/**
 * Waits until every node agrees on a meta leader and the leader sees all its
 * peers as current. A leader alone is not enough: until every peer has
 * reported in, creating an R3 stream fails with "insufficient resources".
 * In 2.9 only the leader's /jsz lists the replicas.
 */
async function waitForMetaGroup(servers: NatsServerHandle[]): Promise<void> {
  const deadlineMs = Date.now() + readyTimeoutMs;
  const peersMin = servers.length - 1;
  const metaOf = async (s: NatsServerHandle): Promise<Jsz["meta_cluster"]> => {
    try {
      const res = await fetch(`http://127.0.0.1:${s.monitorPort}/jsz`, { signal: AbortSignal.timeout(probeTimeoutMs) });
      return ((await res.json()) as Jsz).meta_cluster;
    } catch {
      return undefined;
    }
  };
  while (Date.now() < deadlineMs) {
    const metas = await Promise.all(servers.map(metaOf));
    const leader = metas[0]?.leader;
    const agreed = leader != null && leader !== "" && metas.every((m) => m?.leader === leader);
    const currentPeers = Math.max(...metas.map((m) => (m?.replicas ?? []).filter((r) => r.current).length));
    if (agreed && currentPeers >= peersMin) return;
    await Bun.sleep(readyPollIntervalMs * 4);
  }
  throw new Error(`JetStream meta group of ${servers.length} nodes not ready after ${readyTimeoutMs} ms`);
}

// ---------------------------------------------------------------- main

function argValue(args: string[], name: string): number | undefined {
  const index = args.indexOf(name);
  if (index < 0) return undefined;
  const value = Number(args[index + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} needs a positive integer`);
  return value;
}

async function main(args: string[]): Promise<void> {
  const port = argValue(args, "--port");
  const clusterSize = argValue(args, "--cluster");
  if (port != null && clusterSize != null) throw new Error("--port and --cluster cannot be combined");
  const running =
    clusterSize != null ? await startNatsCluster(clusterSize) : await startNatsServer(port == null ? {} : { port });
  const urls = "urls" in running ? running.urls : [running.url];
  console.log(`NATS_URL=${urls.join(",")}`);
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  await running.cleanup();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
