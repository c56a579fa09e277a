// tier-publish-cost: the CPU one tier change costs nats-server and the engine's publish path,
// and what each part of the way the contract stores it adds.
//
// Every tier change is a JetStream publish to TIER_EVENTS: on a subject per member
// (`tier.<p>.<member>`), with a Nats-Msg-Id, and acknowledged one by one (a PubAck per
// publish). In the feed benchmark's loaded phases they come at ~16 per 100 orders, and at
// 200 000 orders/s their cost is a large share of what both cores do. Variants, each on a
// fresh server with the contract's streams, rounds alternated (the machine's speed drifts):
//   as the engine publishes   engine/outbox.ts's subject, headers and body, through the
//                             engine's AckedPublisher;
//   without Nats-Msg-Id       the same without the id (what the duplicate window costs);
//   subject per partition     `tier.<p>.x` (what a subject per member costs);
//   PubAck per 256            the same messages as the engine's, but only every 256th sent
//                             with a reply subject (what the per-publish ack costs).
// The last three are for sizing and for the contract discussion (README, Performance), not
// what the engine could do: without a reply, a publish the server refuses (no stream leader
// during an election, a storage error) is lost without a word.

import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { AckedPublisher } from "../../engine/acked-publisher.ts";
import { applyMessage } from "../../engine/apply-message.ts";
import { loadConfig } from "../../engine/config.ts";
import { PartitionState } from "../../engine/state/partition-state.ts";
import { tierChangeFields } from "../../engine/tier-change-json.ts";
import { OrderReader } from "../../proto/reader.ts";
import { HEADER_MSG_ID, HEADER_TIER_POS, STREAM_TIER_EVENTS, tierSubject } from "../../proto/names.ts";
import { ensureStreams } from "../../proto/streams.ts";
import { wireHeaders } from "../../proto/wire-headers.ts";
import { startNatsServer } from "../../scripts/nats-server.ts";
import { processCpuS } from "../cpu-time.ts";
import { interleave } from "../interleave.ts";
import { PHASE_MS, POPULATION_MEMBERS, TARGET_RATE } from "./gateway-feed-latency.ts";
import { OrderGenerator } from "../population.ts";
import { type BenchContext, type BenchModule, compared, median, type RowDraft } from "./types.ts";

const CHANGES = 200_000;
const ROUNDS = 3;
const PARTITIONS = 64;
const IN_FLIGHT_MAX = 4096;
const ACK_EVERY = 256;
/** Yield to the event loop this often, as the engine's consume loops do between messages. */
const YIELD_EVERY = 256;
/** The feed benchmark's target window: its rate for a phase, on its population. */
const WINDOW_ORDERS = (TARGET_RATE * PHASE_MS) / 1000;
/** A year of history before it, as the memory benchmark's population has (8 M orders for 1 M members). */
const HISTORY_ORDERS_PER_MEMBER = 8;
const HISTORY_MS = 330 * 86_400_000;
const APPLY_CHUNK_ORDERS = 1_000_000;

const VARIANTS = ["as the engine publishes", "without Nats-Msg-Id", "subject per partition", `PubAck per ${ACK_EVERY}`] as const;
type Variant = (typeof VARIANTS)[number];
const LABELS: Record<Variant, string> = {
  "as the engine publishes": "as the engine publishes it",
  "without Nats-Msg-Id": "without its Nats-Msg-Id",
  "subject per partition": "on a subject per partition instead of per member",
  [`PubAck per ${ACK_EVERY}`]: `with a PubAck for every ${ACK_EVERY}th publish only`,
} as Record<Variant, string>;

interface Measured {
  serverUsPerChange: number;
  publisherUsPerChange: number;
  changesPerS: number;
}

const encoder = new TextEncoder();

async function measure(variant: Variant, changes: number): Promise<Measured> {
  const server = await startNatsServer();
  try {
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm);
    const publisher = new AckedPublisher(nc, IN_FLIGHT_MAX, 30_000);
    let failure: Error | null = null;
    const failed = (err: Error) => void (failure ??= err);
    const noop = () => {};
    const server0 = processCpuS(server.pid);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < changes && failure === null; i++) {
      // What engine/partition-runner.ts tierChange and engine/outbox.ts publish do per change.
      const p = i % PARTITIONS;
      const member = String(100_000_000 + i);
      const subject = variant === "subject per partition" ? `tier.${p}.x` : tierSubject(p, member);
      const change = { member: 100_000_000 + i, from: 1, to: 2, score: 700 + (i % 100), ts: 1_735_660_800_000 + i, rollover: false, cause: `o-${p}-${i}` };
      const data = encoder.encode(`{${tierChangeFields(change, member)}}`);
      const pos = `${1000 + i}.0`;
      const headers = wireHeaders(variant === "without Nats-Msg-Id" ? [[HEADER_TIER_POS, pos]] : [[HEADER_MSG_ID, `t.${p}.${1000 + i}.0`], [HEADER_TIER_POS, pos]]);
      if (variant === `PubAck per ${ACK_EVERY}` && i % ACK_EVERY !== ACK_EVERY - 1 && i !== changes - 1) nc.publish(subject, data, { headers });
      else publisher.send(subject, data, headers, noop, failed);
      if (publisher.full) await publisher.room();
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
    }
    while (publisher.inFlight > 0 && failure === null) await Bun.sleep(2);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const serverS = processCpuS(server.pid) - server0;
    if (failure) throw failure;
    // Every change stored, whichever way it went: otherwise the figure is of less work.
    const stored = (await jsm.streams.info(STREAM_TIER_EVENTS)).state.messages;
    if (stored !== changes) throw new Error(`${variant}: ${stored} of ${changes} changes stored`);
    publisher.close();
    await nc.close();
    return {
      serverUsPerChange: (serverS * 1e6) / changes,
      publisherUsPerChange: (cpu.user + cpu.system) / changes,
      changesPerS: changes / (ms / 1000),
    };
  } finally {
    await server.cleanup();
  }
}

/**
 * Tier changes per order in the feed benchmark's target window: its orders applied into fresh
 * states (no NATS), after `historyOrdersPerMember` orders per member spread over the 11 months
 * before (0: from empty, as the bench runs).
 */
function populationChangesPerOrder(ctx: BenchContext, historyOrdersPerMember: number): number {
  const orders = Math.round(WINDOW_ORDERS * ctx.scale);
  const members = Math.max(1000, Math.round(POPULATION_MEMBERS * ctx.scale));
  const config = loadConfig({ tickIntervalMs: 0 });
  const states = Array.from({ length: config.partitions }, (_, p) => new PartitionState(config, p));
  const reader = new OrderReader(config.lineNames);
  const nowMs = Date.now();
  const apply = (gen: OrderGenerator, n: number) => {
    let applied = 0;
    let changes = 0;
    for (let done = 0; done < n; done += APPLY_CHUNK_ORDERS) {
      const { partitions, bodies } = interleave(gen.fillPartitionBatches(Math.min(APPLY_CHUNK_ORDERS, n - done), config.partitions, 256));
      for (let i = 0; i < bodies.length; i++) {
        const r = applyMessage(states[partitions[i]], reader, bodies[i], nowMs + 60_000);
        applied += r.applied;
        changes += r.changes.length;
      }
    }
    if (applied !== n) throw new Error(`applied ${applied} of ${n} orders`);
    return changes;
  };
  const history = historyOrdersPerMember * members;
  if (history > 0) apply(new OrderGenerator({ seed: ctx.seed + 1, members, startTs: nowMs - HISTORY_MS, ratePerSec: history / (HISTORY_MS / 1000) }), history);
  return apply(new OrderGenerator({ seed: ctx.seed, members, startTs: nowMs, ratePerSec: TARGET_RATE }), orders) / orders;
}

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const changes = Math.max(1000, Math.round(CHANGES * ctx.scale));
  const runs = Object.fromEntries(VARIANTS.map((v) => [v, [] as Measured[]])) as Record<Variant, Measured[]>;
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of VARIANTS) {
      const m = await measure(variant, changes);
      runs[variant].push(m);
      ctx.log(`tier-publish-cost: round ${round + 1}, ${variant}: nats-server ${m.serverUsPerChange.toFixed(2)} µs, publisher ${m.publisherUsPerChange.toFixed(2)} µs per change, ${Math.round(m.changesPerS)}/s`);
    }
  }
  const med = (v: Variant, k: keyof Measured) => median(runs[v].map((m) => m[k]));
  const engine: Variant = "as the engine publishes";
  const rows: RowDraft[] = [];
  for (const v of VARIANTS) {
    for (const [k, side] of [["serverUsPerChange", "nats-server"], ["publisherUsPerChange", "the publishing process"]] as const) {
      const row = { metric: `${side} CPU per tier change, ${LABELS[v]}`, value: med(v, k), unit: "µs" };
      rows.push(v === engine ? row : compared({ ...row, ceiling: { name: "as the engine publishes", value: med(engine, k) } }));
    }
  }
  rows.push({ metric: "tier changes stored per second, as the engine publishes them (one process, one connection)", value: med(engine, "changesPerS"), unit: "changes/s" });
  const changesPerOrder = populationChangesPerOrder(ctx, 0);
  const withHistory = populationChangesPerOrder(ctx, HISTORY_ORDERS_PER_MEMBER);
  const cores = (TARGET_RATE * changesPerOrder * (med(engine, "serverUsPerChange") + med(engine, "publisherUsPerChange"))) / 1e6;
  rows.push(
    { metric: "tier changes per 100 orders of the feed benchmark's target window (its population, from empty)", value: changesPerOrder * 100, unit: "changes" },
    {
      metric: `tier changes per 100 orders of the same window after 11 months of history (${HISTORY_ORDERS_PER_MEMBER} orders per member)`,
      value: withHistory * 100,
      unit: "changes",
    },
    {
      metric: `cores for the tier changes of ${TARGET_RATE.toLocaleString("en-US")} orders/s at that rate (nats-server + publishing, no state work)`,
      value: cores,
      unit: "cores",
    },
  );
  ctx.note(
    `tier-publish-cost: ${changes.toLocaleString("en-US")} tier changes per run, each variant on a fresh nats-server with the contract's streams (TIER_EVENTS: file, 10-minute duplicate window), ` +
      `${ROUNDS} rounds alternated, medians; ≤ ${IN_FLIGHT_MAX} unacknowledged, a turn of the event loop every ${YIELD_EVERY}. "The publishing process" is this one: the engine's ` +
      `AckedPublisher with its subject, header block and JSON body per change, without the engine's state work. Every run checks that every change was stored. ` +
      `The variants are what each part of the contract's way costs: its Nats-Msg-Id, its subject per member, and an acknowledgement per publish. The engine keeps ` +
      `all three: the first two are the contract's, and a publish without a reply that the server refuses (no stream leader during an election, a storage error) ` +
      `is lost without a word. Batched publishing with one ack per batch needs a newer nats-server than Debian's 2.9.10 (atomic batches 2.12, fast-ingest batches 2.14). ` +
      `The rate of changes is the feed benchmark's target window applied without NATS: ${WINDOW_ORDERS.toLocaleString("en-US")} orders of its population ` +
      `(${POPULATION_MEMBERS.toLocaleString("en-US")} members, empty at the start, event time following ${TARGET_RATE.toLocaleString("en-US")} orders/s) into fresh partition states; the last row multiplies it by the engine's way. ` +
      `With 11 months of history before it (${HISTORY_ORDERS_PER_MEMBER} orders per member, as the memory benchmark's population has), the same window changes tiers almost as often: ` +
      `at this population's amounts (median 60 yuan, ~60–120 points an order) against the ladder's steps (200, 500, 1 000, 2 500, 6 000), one order is a sizeable share of the step to the next tier.`,
  );
  return rows;
}

export const tierPublishCostBench: BenchModule = {
  name: "tier-publish-cost",
  description:
    "CPU per tier change for nats-server and the engine's publish path (AckedPublisher), and what its Nats-Msg-Id, its subject per member and its PubAck per publish each cost",
  run,
};
