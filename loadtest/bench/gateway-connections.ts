// gateway-connections: idle feed connections held by one gateway process, and what each costs.
// (It replaces gateway/feed/bench/idle-memory.ts: the same processes, members and readings,
// as a benchmark with a peer, a target and a result file.)
//
// Processes: nats-server, an engine, the gateway (gateway/gateway.ts as `tierstream gateway`
// runs it, in loadtest/stack/gateway-role.ts), and a client process holding the other ends.
// (Both ends of a loopback socket count against the 20 000 open files per process.)
// 1. The gateway's RSS and JS heap after a full collection with no connection open.
// 2. WARM connections, then up to N/3, 2N/3 and N; each a distinct member with its own
//    token, each waited for until its hello arrived; the same reading after each step.
// 3. The peer, in the same run: a bare Bun.serve WebSocket server (loadtest/stack/bare-ws-role.ts,
//    one small frame on open, no logic) holding N connections from a fresh client process,
//    read the same way.
// Per connection = growth ÷ connections: from none (what an operator sees, the headline and
// the target) and from WARM (the marginal cost, without one-time costs such as JIT code and
// the 128 partition-wide subscriptions a gateway takes once 16 members of a partition watch).

import { type Child, spawnRole, stopAll } from "../stack/children.ts";
import { foreignCpuSpan } from "../stack/machine-cpu.ts";
import type { ProcessMemory } from "../stack/process-memory.ts";
import { startStack } from "../stack/stack.ts";
import type { OpenResult } from "../stack/ws-clients-role.ts";
import { type BenchContext, type BenchModule, compared, type RowDraft } from "./types.ts";

const CONNECTIONS = 15_000;
const WARM = 1_000;
/** First member id: ids nobody orders for (the engine answers a bronze view with score 0). */
const MEMBER_BASE = 1_000_000;
const OPEN_CONCURRENCY = 256;
const OPEN_DEADLINE_MS = 60_000;
/** After the last hello: interest announcements and subscription switches settle. */
const SETTLE_MS = 1_500;
const BYTES_PER_CONNECTION_MAX = 4096;

export const gatewayConnectionsBench: BenchModule = {
  name: "gateway-connections",
  description:
    "idle WebSocket feed connections held by one gateway process (its own process; clients in another), its RSS and JS heap per connection, beside a bare Bun.serve WebSocket server holding as many",
  run,
};

type Memory = ProcessMemory & { connections: number };

interface Holding {
  /** Readings with 0, WARM, … N connections open. */
  readings: Memory[];
  opens: OpenResult[];
  /** CPU per wall second of processes outside this benchmark, and stolen, while it opened and read. */
  foreignCpu: number;
  stealCpu: number;
}

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const n = Math.max(2 * Math.round(WARM * ctx.scale), Math.round(CONNECTIONS * ctx.scale));
  const warm = Math.round(WARM * ctx.scale);
  const members = Array.from({ length: n }, (_, i) => MEMBER_BASE + i);
  // Readings at 0, WARM, N/3, 2N/3 and N connections.
  const steps = [warm, Math.round(n / 3), Math.round((2 * n) / 3), n].filter((s, i, all) => i === 0 || s > all[i - 1]);

  const gw = await holdGateway(ctx, members, steps);
  const bare = await holdBare(ctx, members, steps);

  const first = (h: Holding) => h.readings[0];
  const last = (h: Holding) => h.readings[h.readings.length - 1];
  const held = last(gw).connections;
  const bareHeld = last(bare).connections;
  const growth = (h: Holding, key: "rssBytes" | "heapBytes") => (last(h)[key] - first(h)[key]) / last(h).connections;
  const gwRss = growth(gw, "rssBytes");
  const bareRss = growth(bare, "rssBytes");
  const opened = (h: Holding) => h.opens.reduce((a, o) => a + o.opened, 0);
  const openMs = (h: Holding) => h.opens.reduce((a, o) => a + o.ms, 0);
  const slowestHello = (h: Holding) => Math.max(...h.opens.map((o) => o.helloMaxMs));
  const mib = (b: number) => b / 2 ** 20;
  const series = (h: Holding) =>
    h.readings.map((r) => `${r.connections.toLocaleString("en")}: ${mib(r.rssBytes).toFixed(1)} MiB RSS, ${mib(r.heapBytes).toFixed(1)} MiB heap`).join("; ");

  ctx.note(
    `gateway-connections: ${n.toLocaleString("en")} connections, each a distinct member (ids ${MEMBER_BASE.toLocaleString("en")} …, no orders: bronze, score 0) with its own ` +
      `member token (JSON frames), opened ${OPEN_CONCURRENCY} handshakes at a time by one client process; a connection counts once its hello arrived. ` +
      `Memory is read inside the server process (an IPC command of the bench's role file, not gateway/ code) after Bun.gc(true) twice: ` +
      `RSS (process.memoryUsage) and the JSC heap (bun:jsc heapStats().heapSize), ${SETTLE_MS / 1000} s after the last hello of each step.`,
  );
  ctx.note(`gateway-connections: gateway, connections → memory: ${series(gw)}.`);
  ctx.note(`gateway-connections: bare Bun.serve, connections → memory: ${series(bare)}. FIGURES.md: Bun.serve holding 10 000 idle connections ≈ 41–54 MB RSS.`);
  ctx.note(
    `gateway-connections: "growth from 0" is (RSS at N − RSS with none open) ÷ N, the target's figure; it includes what the first connections cost once ` +
      `(JIT code, WebCrypto and NATS buffers, the 128 partition-wide subscriptions taken once 16 members of a partition watch). The slope is the least-squares fit of RSS ` +
      `over the readings from ${warm.toLocaleString("en")} connections on: what one more connection costs. CPU per wall second spent by processes outside this ` +
      `benchmark meanwhile: ${gw.foreignCpu.toFixed(2)} (gateway part), ${bare.foreignCpu.toFixed(2)} (bare part); stolen by the hypervisor: ` +
      `${gw.stealCpu.toFixed(2)}, ${bare.stealCpu.toFixed(2)}.`,
  );
  if (opened(gw) !== n || held !== n) {
    ctx.note(
      `gateway-connections: ${opened(gw).toLocaleString("en")} of ${n.toLocaleString("en")} connections got their hello; the gateway counted ${held.toLocaleString("en")} open. ` +
        `First failure: ${gw.opens.find((o) => o.firstError)?.firstError ?? "none"}.`,
    );
  }

  const ceiling = { name: "bare Bun.serve WebSocket", value: bareRss };
  return [
    { metric: "connections held (hello received, counted open by the gateway)", value: held, unit: "connections" },
    compared(
      {
        metric: "gateway RSS per connection (growth from 0 connections ÷ connections)",
        value: gwRss,
        unit: "bytes",
        ceiling,
        target: `≤ ${BYTES_PER_CONNECTION_MAX} bytes per idle connection`,
      },
      { atMost: BYTES_PER_CONNECTION_MAX },
    ),
    compared({ metric: "gateway JS heap per connection (growth from 0)", value: growth(gw, "heapBytes"), unit: "bytes", ceiling: { name: "bare Bun.serve WebSocket", value: growth(bare, "heapBytes") } }),
    compared({ metric: `gateway RSS per connection, slope (${warm.toLocaleString("en")} … ${held.toLocaleString("en")})`, value: slope(gw, "rssBytes"), unit: "bytes", ceiling: { name: "bare Bun.serve slope", value: slope(bare, "rssBytes") } }),
    { metric: `gateway JS heap per connection, slope (${warm.toLocaleString("en")} … ${held.toLocaleString("en")})`, value: slope(gw, "heapBytes"), unit: "bytes" },
    { metric: "gateway RSS with no connection", value: mib(first(gw).rssBytes), unit: "MiB" },
    { metric: `gateway RSS with ${held.toLocaleString("en")} connections`, value: mib(last(gw).rssBytes), unit: "MiB" },
    { metric: "bare Bun.serve WebSocket RSS per connection (growth from 0)", value: bareRss, unit: "bytes" },
    { metric: "bare Bun.serve WebSocket JS heap per connection (growth from 0)", value: growth(bare, "heapBytes"), unit: "bytes" },
    { metric: `bare Bun.serve WebSocket RSS with ${bareHeld.toLocaleString("en")} connections`, value: mib(last(bare).rssBytes), unit: "MiB" },
    { metric: "gateway: connections opened per second (handshake, token, member view, hello)", value: opened(gw) / (openMs(gw) / 1000), unit: "conn/s" },
    { metric: "gateway: time to hello while opening, slowest", value: slowestHello(gw), unit: "ms" },
    { metric: "bare Bun.serve: connections opened per second", value: opened(bare) / (openMs(bare) / 1000), unit: "conn/s" },
  ];
}

/** Least-squares slope of `key` over connections, readings from the first step (WARM) on. */
function slope(h: Holding, key: "rssBytes" | "heapBytes"): number {
  const pts = h.readings.slice(1);
  const mx = pts.reduce((a, r) => a + r.connections, 0) / pts.length;
  const my = pts.reduce((a, r) => a + r[key], 0) / pts.length;
  let num = 0;
  let den = 0;
  for (const r of pts) {
    num += (r.connections - mx) * (r[key] - my);
    den += (r.connections - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

async function holdGateway(ctx: BenchContext, members: number[], steps: number[]): Promise<Holding> {
  const stack = await startStack(ctx);
  let clients: Child | null = null;
  try {
    clients = await spawnRole("ws-clients-role");
    const foreign = foreignCpuSpan([stack.nats.pid, stack.engine.pid, stack.gateway.pid, clients.pid, process.pid]);
    const held = await hold(ctx, "gateway", stack.gateway, clients, stack.feedUrl, stack.jwtSecret, members, steps);
    const f = foreign();
    return { ...held, foreignCpu: f.foreign, stealCpu: f.steal };
  } finally {
    await clients?.request("closeAll", undefined, 20_000).catch(() => {});
    await stopAll([clients]);
    await stack.stop();
  }
}

async function holdBare(ctx: BenchContext, members: number[], steps: number[]): Promise<Holding> {
  let server: Child | null = null;
  let clients: Child | null = null;
  try {
    server = await spawnRole("bare-ws-role");
    clients = await spawnRole("ws-clients-role");
    const foreign = foreignCpuSpan([server.pid, clients.pid, process.pid]);
    const held = await hold(ctx, "bare Bun.serve", server, clients, server.info.url as string, "unused-secret-for-bare-server", members, steps);
    const f = foreign();
    return { ...held, foreignCpu: f.foreign, stealCpu: f.steal };
  } finally {
    await clients?.request("closeAll", undefined, 20_000).catch(() => {});
    await stopAll([clients, server]);
  }
}

async function hold(
  ctx: BenchContext,
  what: string,
  server: Child,
  clients: Child,
  url: string,
  secret: string,
  members: number[],
  steps: number[],
): Promise<Omit<Holding, "foreignCpu" | "stealCpu">> {
  const memory = () => server.request<Memory>("memory", undefined, 30_000);
  const readings = [await memory()];
  const opens: OpenResult[] = [];
  let from = 0;
  for (const upTo of steps) {
    const o = await clients.request<OpenResult>(
      "open",
      { url, members: members.slice(from, upTo), secret, concurrency: OPEN_CONCURRENCY, deadlineMs: OPEN_DEADLINE_MS },
      OPEN_DEADLINE_MS + 30_000,
    );
    opens.push(o);
    from = upTo;
    await Bun.sleep(SETTLE_MS);
    readings.push(await memory());
    const r = readings[readings.length - 1];
    ctx.log(`${what}: ${r.connections} open (${o.failed} failed), RSS ${(r.rssBytes / 2 ** 20).toFixed(1)} MiB`);
  }
  return { readings, opens };
}
