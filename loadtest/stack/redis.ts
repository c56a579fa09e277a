// A throwaway redis-server (no persistence, 127.0.0.1, a free port) and redis-benchmark's CSV
// output (Redis 7: rps, avg, min, p50, p95, p99, max latency in ms).

import { freePort } from "../../scripts/nats-server.ts";

const READY_DEADLINE_MS = 10_000;
const STOP_GRACE_MS = 5_000;

export interface RedisServer {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export interface RedisBenchResult {
  test: string;
  rps: number;
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU seconds redis-benchmark itself used. */
  cpuS: number;
}

export async function startRedis(redisServer: string, redisCli: string): Promise<RedisServer> {
  const port = await freePort();
  const setpriv = Bun.which("setpriv");
  const prefix = setpriv === null ? [] : [setpriv, "--pdeathsig", "KILL", "--"];
  const proc = Bun.spawn([...prefix, redisServer, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const gone = await Promise.race([proc.exited.then(() => true), Bun.sleep(STOP_GRACE_MS).then(() => false)]);
    if (!gone) proc.kill("SIGKILL");
    await proc.exited;
  };
  const deadline = performance.now() + READY_DEADLINE_MS;
  while (performance.now() < deadline) {
    const ping = Bun.spawnSync([redisCli, "-p", String(port), "ping"]);
    if (ping.stdout.toString().trim() === "PONG") return { port, pid: proc.pid, stop };
    if (proc.exitCode !== null) break;
    await Bun.sleep(50);
  }
  await stop();
  throw new Error(`redis-server on port ${port} not answering PING after ${READY_DEADLINE_MS / 1000} s`);
}

/** Runs redis-benchmark with `args` (plus --csv) and returns its one result row. */
export async function redisBenchmark(redisBenchmarkPath: string, port: number, args: string[], deadlineS: number): Promise<RedisBenchResult> {
  const proc = Bun.spawn([redisBenchmarkPath, "-p", String(port), ...args, "--csv"], { stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => proc.kill("SIGKILL"), deadlineS * 1000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  if (code !== 0) throw new Error(`redis-benchmark exited ${code}: ${err.trim()}`);
  const lines = out.trim().split("\n").map((l) => l.split(",").map((f) => f.replace(/^"|"$/g, "")));
  const header = lines[0];
  const row = lines[lines.length - 1];
  if (header[0] !== "test" || lines.length < 2) throw new Error(`redis-benchmark: unexpected output ${out.slice(0, 200)}`);
  const field = (name: string) => Number(row[header.indexOf(name)]);
  const usage = proc.resourceUsage();
  return {
    test: row[0],
    rps: field("rps"),
    avgMs: field("avg_latency_ms"),
    p50Ms: field("p50_latency_ms"),
    p95Ms: field("p95_latency_ms"),
    p99Ms: field("p99_latency_ms"),
    maxMs: field("max_latency_ms"),
    cpuS: usage === undefined ? Number.NaN : Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6,
  };
}
