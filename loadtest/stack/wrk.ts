// wrk (Debian's, 4.1) against the gateway: one thread, C connections, a Lua script that cycles
// through member ids with an Authorization header; its text output parsed into figures.

import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  socketErrors: number;
  /** CPU seconds wrk itself used. */
  cpuS: number;
  output: string;
}

/** Writes a wrk script that GETs `${pathPrefix}<id>` for each id in turn, with `headers`. */
export function writeCyclingScript(dir: string, pathPrefix: string, ids: readonly number[], headers: Record<string, string>): string {
  return writeIdScript(join(dir, "cycle-members.lua"), pathPrefix, ids, headers, ["local i = 0"], ["i = i % n + 1", "local id = ids[i]"]);
}

/**
 * A wrk script that asks for an id drawn uniformly at random from `ids` on every request: the
 * access pattern of redis-benchmark -r, which draws its keys the same way.
 */
export function writeRandomScript(dir: string, pathPrefix: string, ids: readonly number[], headers: Record<string, string>, seed: number): string {
  return writeIdScript(join(dir, "random-members.lua"), pathPrefix, ids, headers, [`math.randomseed(${Math.trunc(seed)})`], ["local id = ids[math.random(n)]"]);
}

/** A wrk script of GETs of `${pathPrefix}<id>`: `setup` runs once, `pick` per request and sets `id`. */
function writeIdScript(path: string, pathPrefix: string, ids: readonly number[], headers: Record<string, string>, setup: string[], pick: string[]): string {
  const lua = [
    `local ids = {${ids.join(",")}}`,
    "local n = #ids",
    ...setup,
    `local headers = {${Object.entries(headers).map(([k, v]) => `[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join(", ")}}`,
    "request = function()",
    ...pick.map((line) => `  ${line}`),
    `  return wrk.format("GET", ${JSON.stringify(pathPrefix)} .. id, headers)`,
    "end",
    "",
  ].join("\n");
  writeFileSync(path, lua);
  return path;
}

export interface WrkRun {
  url: string;
  script: string;
  connections: number;
  durationS: number;
}

export async function runWrk(wrk: string, r: WrkRun): Promise<WrkResult> {
  const args = [wrk, "-t", "1", "-c", String(r.connections), "-d", `${r.durationS}s`, "--latency", "--timeout", "5s", "-s", r.script, r.url];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => proc.kill("SIGKILL"), (r.durationS + 30) * 1000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  if (code !== 0) throw new Error(`wrk exited ${code}: ${err.trim() || out.trim()}`);
  const usage = proc.resourceUsage();
  const cpuS = usage === undefined ? Number.NaN : Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6;
  return { ...parseWrk(out), cpuS };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (m === null) throw new Error(`wrk: cannot read the duration "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

export function parseWrk(out: string): Omit<WrkResult, "cpuS"> {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m === null ? Number.NaN : Number(m[1]);
  };
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out);
    return m === null ? Number.NaN : durationMs(m[1]);
  };
  const latencyLine = /^\s+Latency\s+\S+\s+\S+\s+(\S+)/m.exec(out);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    p50Ms: pct("50"),
    p90Ms: pct("90"),
    p99Ms: pct("99"),
    maxMs: latencyLine === null ? Number.NaN : durationMs(latencyLine[1]),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
    socketErrors: errors === null ? 0 : errors.slice(1).reduce((a, v) => a + Number(v), 0),
    output: out,
  };
}
