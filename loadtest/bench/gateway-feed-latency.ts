// gateway-feed-latency: from publishing an order to the `tier` frame it causes arriving at a
// member's WebSocket, under a steady background order load.
//
// Processes: nats-server, an engine, a gateway (loadtest/stack/stack.ts), an order publisher
// (loadtest/stack/order-load-role.ts: the background load and the probes) and a client process
// (loadtest/stack/ws-clients-role.ts) holding K feed connections — the publisher and the
// clients share no process with the gateway.
//
// Probes: the K connected members are ids no background order touches (above 2^32), so the
// publisher knows each one's score and every probe is the one order that crosses the member's
// next tier threshold. Its id carries the publisher's wall clock just before js.publish; the
// client matches the tier frame by its cause (the id) and records its own wall clock minus
// that into an HDR histogram. Both clocks are performance.timeOrigin + performance.now() on
// one machine; their disagreement is measured and reported. Each probe's latency is then split
// at the timestamps JetStream stored with the order and with its tier change, and at the
// moment an observer subscribed to the member's live subject beside the gateway got the live
// message (loadtest/stack/probe-split.ts): publisher, engine, engine's live publish, gateway.
//
// Phases, one after another, probes at K/10 per second in each:
//   idle      no background load: the pipeline's own latency;
//   target    the background at TARGET_RATE orders/s — the target holds only if the rate and
//             the latency both do;
//   half, quarter, tenth   the background at 50, 25 and 10 % of it: latency against load on
//             this box, and the highest of these rates at which p99 ≤ 10 ms.
// Each probe member takes one probe per tier above bronze (5), so K members carry 5 K probes:
// the phases must not need more (checked before the first; a phase that ran out would time
// fewer probes than it sent for).
// Then the peer: a bare Bun.serve (no logic) server.publish-ing the same small frames at the
// same rate to K connected clients, timed the same way, with the stack stopped.

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { availableParallelism } from "node:os";
import { startNatsServer } from "../../scripts/nats-server.ts";
import { loadConfig } from "../../engine/config.ts";
import { processCpuS, processRunQueueWaitS } from "../cpu-time.ts";
import { type Child, spawnRole, stopAll } from "../stack/children.ts";
import { clockOffset } from "../stack/clock.ts";
import { foreignCpuSpan } from "../stack/machine-cpu.ts";
import type { EngineCountersReply } from "../stack/engine-role.ts";
import { LatencyRecorder, type LatencySummary } from "../stack/latency.ts";
import type { LoopLag } from "../stack/loop-lag.ts";
import type { RunArgs, RunResult } from "../stack/order-load-role.ts";
import { parseProbeId } from "../stack/probe-id.ts";
import { type ProbeSplit, splitProbes } from "../stack/probe-split.ts";
import { BENCH_ENGINE_CONFIG, startStack, type Stack } from "../stack/stack.ts";
import type { OpenResult } from "../stack/ws-clients-role.ts";
import { type BenchContext, type BenchModule, compared, type RowDraft } from "./types.ts";

export const TARGET_RATE = 200_000;
const LATENCY_P99_MS_MAX = 10;
/** A rate counts as held when the engine applied at least this share of it over the window… */
const RATE_HELD_SHARE = 0.98;
/** …and had at most this many seconds of it left unapplied at the end. */
const BACKLOG_S_MAX = 0.5;
const ALL_PHASES = [
  { name: "idle", share: 0 },
  { name: "target", share: 1 },
  { name: "half", share: 0.5 },
  { name: "quarter", share: 0.25 },
  { name: "tenth", share: 0.1 },
] as const;
/** FEED_LATENCY_PHASES=target runs only the named phases (profiling, A/B runs). */
const PHASES = process.env.FEED_LATENCY_PHASES ? ALL_PHASES.filter((p) => process.env.FEED_LATENCY_PHASES!.split(",").includes(p.name)) : ALL_PHASES;
/**
 * FEED_ENGINES=N runs N engine processes, the partitions split among them (p mod N): on a
 * machine with cores to spare one engine's event loop is the limit (README, Performance).
 */
const ENGINES = Number(process.env.FEED_ENGINES ?? 1);
export const PHASE_MS = 10_000;
const RAW_MS = 10_000;
export const POPULATION_MEMBERS = 500_000;
const CONNECTIONS = 1_000;
/** Probe members: above every population id (those are ≤ 2^32 − 5). */
const PROBE_MEMBER_BASE = 2 ** 32 + 1_000;
const DRAIN_DEADLINE_MS = 30_000;
const POLL_MS = 500;
const PARTITIONS = loadConfig(BENCH_ENGINE_CONFIG).partitions;
/**
 * Probes sent this long after a window's first one show the steady state: the load steps up
 * from the phase before at the window's start, and the engine and nats-server take a moment
 * to settle (members created, tables grown, most tier changes of a cold population).
 */
const SETTLED_AFTER_MS = 2_000;
const ECHO_SUBJECT = "bench.echo";

export const gatewayFeedLatencyBench: BenchModule = {
  name: "gateway-feed-latency",
  description:
    "time from publishing an order to its `tier` frame at a connected member's WebSocket, under a steady background load of the realistic population (nats-server, engine, gateway, publisher and clients each their own process), beside a bare Bun server.publish",
  run,
};

type Latency = LatencySummary & { negative: number };

interface GatewayLoad {
  nats: { inMsgs: number; inBytes: number };
  lag: LoopLag;
  warnings: number;
}

interface Phase {
  name: string;
  rate: number;
  load: RunResult;
  /** Engine orders applied per second over the window, and orders left unapplied at its end. */
  appliedRate: number;
  backlogAtEnd: number;
  held: boolean;
  drained: boolean;
  drainMs: number;
  latency: Latency;
  cpu: Record<string, number>;
  /** Seconds per wall second each process's threads were runnable but had no core (run queue). */
  runQueueWait: Record<string, number>;
  tierChanges: number;
  engineLag: LoopLag;
  gatewayLag: LoopLag;
  /** NATS messages the gateway received per second over the window. */
  gatewayMsgsPerS: number;
  split: ProbeSplit | null;
  /** The probes sent SETTLED_AFTER_MS or more into the window (settledLatency). */
  settled: LatencySummary | null;
}

interface Env {
  ctx: BenchContext;
  stack: Stack;
  load: Child;
  clients: Child;
  members: number;
  probeRate: number;
}

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const k = Math.max(20, Math.round(CONNECTIONS * ctx.scale));
  const probeRate = k / 10;
  const members = Math.max(1000, Math.round(POPULATION_MEMBERS * ctx.scale));
  const phaseMs = Math.round(PHASE_MS * Math.sqrt(ctx.scale));
  const probeMembers = Array.from({ length: k }, (_, i) => PROBE_MEMBER_BASE + i);
  const phases: Phase[] = [];
  let open: OpenResult;
  let clock: { skewMs: number; uncertaintyMs: number };
  let counts: Record<string, unknown>;

  if (!(Number.isInteger(ENGINES) && ENGINES >= 1 && ENGINES <= PARTITIONS)) {
    throw new Error(`FEED_ENGINES must be an integer 1 … ${PARTITIONS}, got ${process.env.FEED_ENGINES}`);
  }
  const stack = await startStack(ctx, { engines: ENGINES });
  let load: Child | null = null;
  let clients: Child | null = null;
  try {
    load = await spawnRole("order-load-role", [stack.nats.url]);
    clients = await spawnRole("ws-clients-role");
    const { probesMax } = await load.request<{ probesMax: number }>("probeMembers", { members: probeMembers });
    const probesNeeded = PHASES.length * Math.ceil((probeRate * phaseMs) / 1000);
    if (probesNeeded > probesMax) throw new Error(`${PHASES.length} phases of ${phaseMs} ms need ${probesNeeded} probes; ${k} probe members carry ${probesMax}`);
    await clients.request("watchLive", { natsUrl: stack.nats.url, members: probeMembers, partitions: PARTITIONS });
    open = await clients.request<OpenResult>("open", { url: stack.feedUrl, members: probeMembers, secret: stack.jwtSecret, concurrency: 128, deadlineMs: 30_000 }, 60_000);
    if (open.opened !== k) throw new Error(`${open.opened} of ${k} feed connections opened: ${open.firstError}`);
    const [lo, co] = [await clockOffset(load), await clockOffset(clients)];
    clock = { skewMs: co.offsetMs - lo.offsetMs, uncertaintyMs: (lo.rttMs + co.rttMs) / 2 };
    ctx.log(`feed-latency: ${k} members connected; clients' clock − publisher's = ${clock.skewMs.toFixed(3)} ms (± ${clock.uncertaintyMs.toFixed(3)})`);

    const env = { ctx, stack, load, clients, members, probeRate };
    for (const p of PHASES) phases.push(await phase(env, p.name, TARGET_RATE * p.share, phaseMs));
    counts = await clients.request<Record<string, unknown>>("counts");
    for (const p of phases) {
      const arrived = await clients.request<[string, number, number, number][]>("arrivals", { phase: p.name });
      p.split = await splitProbes(stack.nats.url, p.load.probes, arrived);
      p.settled = settledLatency(arrived);
    }
  } finally {
    await clients?.request("closeAll", undefined, 20_000).catch(() => {});
    await stopAll([clients, load]);
    await stack.stop();
  }
  const rawMs = Math.round(RAW_MS * Math.sqrt(ctx.scale));
  const raw = await rawPublish(ctx, probeMembers, probeRate, rawMs);
  const natsFloor = await natsRoundTrip(ctx, probeRate, rawMs);
  return report(ctx, { phases, raw, natsFloor, k, members, probeRate, clock, open, counts });
}

/** The engines' counters added up; their event-loop lag is the worst of theirs. */
function sumCounters(all: EngineCountersReply[]): Pick<EngineCountersReply, "eventsApplied" | "tierChanges" | "lag"> {
  return {
    eventsApplied: all.reduce((n, c) => n + c.eventsApplied, 0),
    tierChanges: all.reduce((n, c) => n + c.tierChanges, 0),
    lag: {
      maxMs: Math.max(...all.map((c) => c.lag.maxMs)),
      over50Ms: all.reduce((n, c) => n + c.lag.over50Ms, 0),
      ticks: all.reduce((n, c) => n + c.lag.ticks, 0),
    },
  };
}

async function phase(e: Env, name: string, rate: number, durationMs: number): Promise<Phase> {
  e.ctx.log(`feed-latency: phase ${name}: ${rate} orders/s for ${durationMs / 1000} s`);
  // CPU per role: the engines' processes count together.
  const pids: Record<string, number[]> = {
    "nats-server": [e.stack.nats.pid],
    [e.stack.engines.length === 1 ? "engine" : "engines"]: e.stack.engines.map((c) => c.pid),
    gateway: [e.stack.gateway.pid],
    publisher: [e.load.pid],
    clients: [e.clients.pid],
  };
  /** A per-process counter (seconds so far) summed per role. */
  const perRole = (read: (pid: number) => number) => Object.fromEntries(Object.entries(pids).map(([n, ps]) => [n, ps.reduce((sum, pid) => sum + read(pid), 0)]));
  const engineCounters = async () => sumCounters(await Promise.all(e.stack.engines.map((c) => c.request<EngineCountersReply>("counters", undefined, 30_000))));
  const gatewayLoad = () => e.stack.gateway.request<GatewayLoad>("load", undefined, 30_000);
  const cpu0 = perRole(processCpuS);
  const wait0 = perRole(processRunQueueWaitS);
  const foreign = foreignCpuSpan([...Object.values(pids).flat(), process.pid]);
  const before = await engineCounters();
  const gwBefore = await gatewayLoad();
  const t0 = performance.now();
  const args: RunArgs = { ratePerSec: rate, durationMs, members: e.members, seed: e.ctx.seed, probes: { phase: name, ratePerSec: e.probeRate } };
  const running = e.load.request<RunResult>("run", args, durationMs + 60_000);
  // The engine's applied count at the end of the window (one reading, so its lag covers the window).
  await Bun.sleep(Math.max(1, durationMs - POLL_MS / 2));
  const atWindowEnd = await engineCounters();
  const gwAtEnd = await gatewayLoad();
  const windowS = (performance.now() - t0) / 1000;
  const perWallS = (now: Record<string, number>, then: Record<string, number>) => Object.fromEntries(Object.keys(now).map((n) => [n, (now[n] - then[n]) / windowS]));
  const cpu = perWallS(perRole(processCpuS), cpu0);
  const runQueueWait = perWallS(perRole(processRunQueueWaitS), wait0);
  const f = foreign();
  cpu["processes outside this benchmark"] = f.foreign;
  cpu["stolen by the hypervisor"] = f.steal;
  const load = await running;
  const appliedInWindow = atWindowEnd.eventsApplied - before.eventsApplied;
  const backlogAtEnd = Math.max(0, load.offered + load.probesSent - appliedInWindow);

  // Drain: every order applied and every probe's frame in, or the deadline.
  const d0 = performance.now();
  const ordersSent = load.acked + load.probesAcked;
  let now = atWindowEnd;
  let latency = await e.clients.request<Latency>("latency", { phase: name });
  while ((now.eventsApplied - before.eventsApplied < ordersSent || latency.count < load.probesSent) && performance.now() - d0 < DRAIN_DEADLINE_MS) {
    await Bun.sleep(POLL_MS);
    now = await engineCounters();
    latency = await e.clients.request<Latency>("latency", { phase: name });
  }
  const drained = now.eventsApplied - before.eventsApplied >= ordersSent && latency.count >= load.probesSent;
  const drainMs = performance.now() - d0;
  const appliedRate = appliedInWindow / windowS;
  const held = rate > 0 && appliedRate >= rate * RATE_HELD_SHARE && backlogAtEnd <= rate * BACKLOG_S_MAX;
  e.ctx.log(
    `feed-latency: phase ${name}: offered ${(load.offered / windowS).toFixed(0)}/s, applied ${appliedRate.toFixed(0)}/s; ` +
      `${latency.count}/${load.probesSent} probes, p99 ${latency.p99Ms} ms; ${drained ? "drained" : "NOT drained"} in ${(drainMs / 1000).toFixed(1)} s`,
  );
  return {
    name,
    rate,
    load,
    appliedRate,
    backlogAtEnd,
    held,
    drained,
    drainMs,
    latency,
    cpu,
    runQueueWait,
    tierChanges: now.tierChanges - before.tierChanges,
    engineLag: atWindowEnd.lag,
    gatewayLag: gwAtEnd.lag,
    gatewayMsgsPerS: (gwAtEnd.nats.inMsgs - gwBefore.nats.inMsgs) / windowS,
    split: null,
    settled: null,
  };
}

/**
 * The latency of the probes sent SETTLED_AFTER_MS or more after the window's first probe, from
 * the clients' arrivals ([probe id, seq, arrival ms, …]), measured as the clients measure
 * every probe (arrival − the send time in its id). Null when no such probe arrived.
 */
export function settledLatency(arrived: readonly (readonly [string, number, number, number])[]): LatencySummary | null {
  const probes = arrived.flatMap(([id, , arrivedMs]) => {
    const probe = parseProbeId(id);
    return probe === null ? [] : [{ sentMs: probe.sentMs, latencyMs: arrivedMs - probe.sentMs }];
  });
  if (probes.length === 0) return null;
  const firstSentMs = Math.min(...probes.map((p) => p.sentMs));
  const recorder = new LatencyRecorder();
  for (const p of probes) if (p.sentMs - firstSentMs >= SETTLED_AFTER_MS) recorder.record(p.latencyMs);
  const summary = recorder.summary();
  return summary.count > 0 ? summary : null;
}

async function rawPublish(ctx: BenchContext, members: number[], rate: number, durationMs: number): Promise<Latency & { sent: number }> {
  let server: Child | null = null;
  let clients: Child | null = null;
  try {
    server = await spawnRole("bare-ws-role", ["--subscribe"]);
    clients = await spawnRole("ws-clients-role");
    const o = await clients.request<OpenResult>("open", { url: server.info.url, members, secret: "unused-secret-for-bare-server", concurrency: 128, deadlineMs: 30_000 }, 60_000);
    if (o.opened !== members.length) throw new Error(`raw peer: ${o.opened} of ${members.length} connections opened`);
    ctx.log(`feed-latency: raw Bun server.publish, ${rate}/s for ${durationMs / 1000} s`);
    const { sent } = await server.request<{ sent: number }>("publish", { phase: "raw", members, ratePerSec: rate, durationMs }, durationMs + 30_000);
    let latency = await clients.request<Latency>("latency", { phase: "raw" });
    for (let i = 0; i < 20 && latency.count < sent; i++) {
      await Bun.sleep(100);
      latency = await clients.request<Latency>("latency", { phase: "raw" });
    }
    return { ...latency, sent };
  } finally {
    await clients?.request("closeAll", undefined, 20_000).catch(() => {});
    await stopAll([clients, server]);
  }
}

/**
 * The floor under every stage: a request to another Bun process and its reply through a
 * nats-server of their own (no JetStream), at the probes' rate, with the stack stopped. Four
 * process hops with no work at either end; a probe's tier frame makes seven (publisher →
 * server → engine → server → engine (PubAck) → server → gateway, then the WebSocket).
 */
async function natsRoundTrip(ctx: BenchContext, rate: number, durationMs: number): Promise<LatencySummary> {
  const server = await startNatsServer({ jetStream: false });
  let echo: Child | null = null;
  let nc: NatsConnection | null = null;
  try {
    echo = await spawnRole("nats-echo-role", [server.url, ECHO_SUBJECT]);
    nc = await connect({ servers: server.url, name: "bench-echo-client" });
    ctx.log(`feed-latency: bare NATS request/reply between two processes, ${rate}/s for ${durationMs / 1000} s`);
    const recorder = new LatencyRecorder();
    const payload = new Uint8Array(120); // about a tier change's size
    const t0 = performance.now();
    for (let sent = 0; performance.now() - t0 < durationMs; sent++) {
      const dueMs = t0 + (sent * 1000) / rate;
      if (dueMs > performance.now()) await Bun.sleep(dueMs - performance.now());
      const started = performance.now();
      await nc.request(ECHO_SUBJECT, payload, { timeout: 5000 });
      recorder.record(performance.now() - started);
    }
    return recorder.summary();
  } finally {
    await nc?.close();
    await stopAll([echo]);
    await server.cleanup();
  }
}

interface Outcome {
  phases: Phase[];
  raw: Latency & { sent: number };
  natsFloor: LatencySummary;
  k: number;
  members: number;
  probeRate: number;
  clock: { skewMs: number; uncertaintyMs: number };
  open: OpenResult;
  counts: Record<string, unknown>;
}

/**
 * Whether a phase meets the latency target: its rate held, every probe it meant to send sent
 * (its members did not run out of tiers) and every frame in, and p99 ≤ LATENCY_P99_MS_MAX.
 */
const meetsP99 = (p: Phase) => p.held && !p.load.probesExhausted && p.latency.count === p.load.probesSent && p.latency.p99Ms <= LATENCY_P99_MS_MAX;

/** The phase of the highest background rate among `phases`, or null when there is none. */
const fastestOf = (phases: readonly Phase[]) => (phases.length === 0 ? null : phases.reduce((a, b) => (b.rate > a.rate ? b : a)));

const fmtMs = (ms: number) => (ms >= 100 ? Math.round(ms).toLocaleString("en") : Number(ms.toPrecision(3)).toString());

function report(ctx: BenchContext, o: Outcome): RowDraft[] {
  const rows: RowDraft[] = [];
  const raw = o.raw;
  const rawCeiling = (what: "p50Ms" | "p99Ms" | "p999Ms" | "maxMs") => ({ name: `raw Bun server.publish ${what.replace("Ms", "")}`, value: raw[what] });
  const target = `p99 ≤ ${LATENCY_P99_MS_MAX} ms at ${TARGET_RATE.toLocaleString("en")} orders/s`;
  for (const p of o.phases) {
    const w = p.load.windowMs / 1000;
    const label = p.rate === 0 ? `${p.name} (no background load)` : `${p.name} (${p.rate.toLocaleString("en")} orders/s asked)`;
    const l = p.latency;
    const complete = l.count === p.load.probesSent;
    if (p.rate > 0) {
      rows.push(
        { metric: `${label}: orders offered by the publisher`, value: p.load.offered / w, unit: "orders/s" },
        { metric: `${label}: orders stored by JetStream (acked in the window)`, value: p.load.ackedInWindow / w, unit: "orders/s" },
        { metric: `${label}: orders applied by the engine in the window${p.held ? "" : " (rate NOT held)"}`, value: p.appliedRate, unit: "orders/s" },
      );
    }
    const p99: Omit<RowDraft, "ratio" | "pass"> = {
      metric: `${label}: order → tier frame p99${complete ? "" : ` (${p.load.probesSent - l.count} frames never came: a lower bound)`}`,
      value: l.p99Ms,
      unit: "ms",
      ceiling: rawCeiling("p99Ms"),
    };
    rows.push(
      { metric: `${label}: probes whose tier frame arrived`, value: l.count, unit: `of ${p.load.probesSent}` },
      compared({ metric: `${label}: order → tier frame p50`, value: l.p50Ms, unit: "ms", ceiling: rawCeiling("p50Ms") }),
      p.rate === TARGET_RATE ? { ...compared(p99), target, pass: meetsP99(p) } : compared(p99),
      compared({ metric: `${label}: order → tier frame p99.9`, value: l.p999Ms, unit: "ms", ceiling: rawCeiling("p999Ms") }),
      compared({ metric: `${label}: order → tier frame max`, value: l.maxMs, unit: "ms", ceiling: rawCeiling("maxMs") }),
    );
    if (p.rate > 0 && p.settled !== null) {
      rows.push(
        compared({
          metric: `${label}: order → tier frame p99 of the probes sent ≥ ${SETTLED_AFTER_MS / 1000} s into the window (${p.settled.count} probes)`,
          value: p.settled.p99Ms,
          unit: "ms",
          ceiling: rawCeiling("p99Ms"),
        }),
      );
    }
    if (p.split !== null && p.split.probes > 0) {
      const s = p.split;
      const segments = [
        ["publish → order stored in ORDERS", s.toOrders],
        ["ORDERS → tier change stored in TIER_EVENTS (engine)", s.engine],
        ["TIER_EVENTS → live tier message at a subscriber (engine's live publish)", s.toLive],
        ["live tier message → frame at the client (gateway, WebSocket)", s.gateway],
      ] as const;
      for (const [what, seg] of segments) rows.push({ metric: `${label}: of which ${what}, p99`, value: seg.p99Ms, unit: "ms" });
      ctx.note(
        `gateway-feed-latency: ${p.name}: ${s.probes} probes split at JetStream's stored timestamps and the observer's (p50 / p99 / max, ms): ` +
          segments.map(([what, seg]) => `${what} ${fmtMs(seg.p50Ms)} / ${fmtMs(seg.p99Ms)} / ${fmtMs(seg.maxMs)}`).join("; ") + ".",
      );
    }
    rows.push({ metric: `${label}: NATS messages into the gateway`, value: p.gatewayMsgsPerS, unit: "msgs/s" });
    ctx.note(
      `gateway-feed-latency: ${p.name}: ${p.load.probesSent} probes${p.load.probesExhausted ? " (the probe members ran out of tiers: fewer than the rate asked)" : ""}, ${l.count} frames matched` +
        (p.rate > 0
          ? `; ${p.load.offered.toLocaleString("en")} background orders offered in ${w.toFixed(1)} s (${p.load.ticksBlocked} of ${p.load.ticks} publisher ticks blocked on 4096 unacknowledged messages; ` +
            `${p.load.publishErrors} publish errors), ${p.tierChanges.toLocaleString("en")} tier changes (${((p.tierChanges / Math.max(1, p.load.offered)) * 100).toFixed(1)} per 100 orders); ` +
            `rate held: ${p.held ? "yes" : "no"} (${Math.round(p.backlogAtEnd).toLocaleString("en")} orders unapplied at the window's end)`
          : "") +
        `; ${p.drained ? "drained" : "NOT drained"} ${(p.drainMs / 1000).toFixed(1)} s after the window. CPU per wall second: ${Object.entries(p.cpu).map(([n, c]) => `${n} ${c.toFixed(2)}`).join(", ")}. ` +
        `Waiting for a core (run queue, all threads) per wall second: ${Object.entries(p.runQueueWait).map(([n, c]) => `${n} ${c.toFixed(2)}`).join(", ")}. ` +
        `Event-loop lag (max; ticks > 50 ms late): ${ENGINES === 1 ? "engine" : "engines (the worst)"} ${fmtMs(p.engineLag.maxMs)} ms, ${p.engineLag.over50Ms}; gateway ${fmtMs(p.gatewayLag.maxMs)} ms, ${p.gatewayLag.over50Ms}.`,
    );
  }
  const best = fastestOf(o.phases.filter((p) => p.held));
  rows.push({ metric: "highest background rate held in this run (applied ≥ 98 %, ≤ 0.5 s left)", value: best?.appliedRate ?? 0, unit: "orders/s" });
  if (best !== null) rows.push(compared({ metric: `order → tier frame p99 at that rate (${best.name})`, value: best.latency.p99Ms, unit: "ms", ceiling: rawCeiling("p99Ms") }));
  // The p99 target as a rate: the highest background rate of this run at which it held.
  const fastest = fastestOf(o.phases.filter(meetsP99));
  rows.push({
    metric: `highest background rate in this run with order → tier frame p99 ≤ ${LATENCY_P99_MS_MAX} ms (held, every frame in)${fastest === null ? ": none" : ` (${fastest.name}, p99 ${fmtMs(fastest.latency.p99Ms)} ms)`}`,
    value: fastest?.appliedRate ?? 0,
    unit: "orders/s",
  });
  rows.push(
    { metric: "raw Bun server.publish → client: frames arrived", value: raw.count, unit: `of ${raw.sent}` },
    { metric: "raw Bun server.publish → client p50", value: raw.p50Ms, unit: "ms" },
    { metric: "raw Bun server.publish → client p99", value: raw.p99Ms, unit: "ms" },
    { metric: "raw Bun server.publish → client p99.9", value: raw.p999Ms, unit: "ms" },
    { metric: "raw Bun server.publish → client max", value: raw.maxMs, unit: "ms" },
    { metric: "bare NATS request → reply between two Bun processes (4 process hops), p50", value: o.natsFloor.p50Ms, unit: "ms" },
    { metric: "bare NATS request → reply between two Bun processes (4 process hops), p99", value: o.natsFloor.p99Ms, unit: "ms" },
  );
  ctx.note(
    `gateway-feed-latency: ${o.k.toLocaleString("en")} feed connections (JSON frames), one per probe member (ids from 2^32 + 1000, untouched by the background), ` +
      `opened in ${(o.open.ms / 1000).toFixed(1)} s; probes at ${o.probeRate}/s, round robin over the members, each the one order (line taobao, 1 point per yuan) that ` +
      `reaches the member's next tier: a probe's latency = the client's wall clock when the tier frame arrived − the publisher's just before js.publish (HDR histogram, µs). ` +
      `With ${o.k.toLocaleString("en")} members over ${PARTITIONS} partitions the gateway subscribes partition-wide where 16 or more watch (gateway/feed/registry.ts); ` +
      `the engine publishes live only the tier changes of watched members (engine/live-tiers.ts; every change for 10 s after it takes a partition), so the background's ` +
      `changes reach the gateway only through view notices and score ticks of watched members ("NATS messages into the gateway").`,
  );
  ctx.note(
    `gateway-feed-latency: background: the realistic population (${o.members.toLocaleString("en")} members, empty at the start; Zipf 1.1 with half the orders uniform; ` +
      `event time follows the wall clock) published every 10 ms as one message per partition (≤ 256 orders), no Nats-Msg-Id, ≤ 4096 messages unacknowledged; ` +
      `${ENGINES === 1 ? "one engine process" : `${ENGINES} engine processes (FEED_ENGINES), engine i owning the partitions p with p mod ${ENGINES} = i`}, ticks off. A rate is held when the engine applied ≥ ${RATE_HELD_SHARE * 100} % of it over the ${(PHASE_MS / 1000).toFixed(0)} s window with ≤ ${BACKLOG_S_MAX} s of it ` +
      `left; the target passes only when ${TARGET_RATE.toLocaleString("en")} orders/s is held and p99 ≤ ${LATENCY_P99_MS_MAX} ms with every probe's frame in, over the whole window. ` +
      `The load steps up at each window's start (idle → target → half → quarter → tenth); "the probes sent ≥ ${SETTLED_AFTER_MS / 1000} s into the window" leave that step out, to show the steady state beside it. Every process shares ` +
      `this machine's ${availableParallelism()} cores (nats-server, ${ENGINES === 1 ? "engine" : "engines"}, gateway, publisher, clients).`,
  );
  ctx.note(
    `gateway-feed-latency: clocks: the clients' wall clock minus the publisher's, measured over IPC round trips, is ${o.clock.skewMs.toFixed(3)} ms (± ${o.clock.uncertaintyMs.toFixed(3)} ms): ` +
      `the error of every latency above. Negative samples (clamped to 1 µs): ${o.phases.map((p) => `${p.name} ${p.latency.negative}`).join(", ")}, raw ${raw.negative}. ` +
      `Closes seen by the clients, by code: ${JSON.stringify(o.counts.closesByCode)}; frames by type: ${JSON.stringify(o.counts.framesByType)}.`,
  );
  ctx.note(
    `gateway-feed-latency: the NATS floor: ${o.natsFloor.count.toLocaleString("en")} requests of 120 bytes at ${o.probeRate}/s from this process to one that answers each with its own bytes ` +
      `(loadtest/stack/nats-echo-role.ts), through a nats-server of their own with the stack stopped: four process hops with no work, p50 ${fmtMs(o.natsFloor.p50Ms)} ms, ` +
      `p99 ${fmtMs(o.natsFloor.p99Ms)} ms, max ${fmtMs(o.natsFloor.maxMs)} ms. A probe's tier frame makes seven hops (publisher → nats-server → engine → nats-server → engine, its PubAck → ` +
      `nats-server → gateway → client), so at idle most of its latency is this floor: each hop wakes a process that was waiting on its socket.`,
  );
  ctx.note(
    `gateway-feed-latency: the peer: a bare Bun.serve WebSocket server (loadtest/stack/bare-ws-role.ts) with the same ${o.k.toLocaleString("en")} connections, each subscribed to its own topic; ` +
      `server.publish of a small tier-shaped frame at ${o.probeRate}/s stamped just before the call, received and timed by the same client code, with the tierstream processes stopped.`,
  );
  return rows;
}
