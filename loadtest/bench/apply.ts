// apply: the state machine alone — applyMessage over pre-encoded messages into fresh
// PartitionStates, no NATS. The ceiling beside it is OrderReader alone over the same bytes
// (decoding without state work), so the gap between the two is the state's own cost.

import { applyMessage } from "../../engine/apply-message.ts";
import { loadConfig } from "../../engine/config.ts";
import { PartitionState } from "../../engine/state/partition-state.ts";
import { OrderReader } from "../../proto/reader.ts";
import { interleave, type Schedule } from "../interleave.ts";
import { OrderGenerator } from "../population.ts";
import { type BenchContext, type BenchModule, compared, median, type RowDraft } from "./types.ts";

const PARTITIONS = 64;
const ORDERS_PER_MESSAGE = 256;
const ORDERS = 4_000_000;
const MEMBERS = 500_000;
const TIMED_RUNS = 3;

export const applyBench: BenchModule = {
  name: "apply",
  description: "applyMessage over pre-encoded messages into fresh PartitionStates (no NATS)",
  run,
};

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const orders = Math.round(ORDERS * ctx.scale);
  const members = Math.round(MEMBERS * ctx.scale);
  const gen = new OrderGenerator({ seed: ctx.seed, members });
  const t0 = performance.now();
  const batches = gen.fillPartitionBatches(orders, PARTITIONS, ORDERS_PER_MESSAGE);
  const generateMs = performance.now() - t0;
  const schedule = interleave(batches);
  const storedMs = gen.eventTs; // every ts is at or before it: none is "in the future"
  ctx.note(
    `apply: ${orders.toLocaleString("en")} orders of the default population (${members.toLocaleString("en")} members, ` +
      `Zipf s 1.1 with half the orders from uniformly drawn members, 5 000 orders/s of event time), ` +
      `${schedule.bodies.length.toLocaleString("en")} messages of ≤ ${ORDERS_PER_MESSAGE} in ${PARTITIONS} partitions, ` +
      `fed round-robin over partitions; median of ${TIMED_RUNS} runs, each into fresh states, after a warm-up run.`,
  );
  ctx.log(`apply: generated ${orders} orders in ${generateMs.toFixed(0)} ms`);

  const config = loadConfig({ tickIntervalMs: 0 });
  // The same rules with the dedup horizon at 0: what applying costs without its working set
  // (at 5 000 orders/s of event time a 10-minute horizon holds 3 M fingerprints).
  const noDedup = loadConfig({ tickIntervalMs: 0, dedupHorizonMs: 0 });
  applyAll(schedule, config, storedMs, orders); // warm-up: JIT and page faults
  const decodeRuns: number[] = [];
  const applyRuns: number[] = [];
  const noDedupRuns: number[] = [];
  let changes = 0;
  let messageP999 = 0;
  let messageMax = 0;
  for (let r = 0; r < TIMED_RUNS; r++) {
    // Each run's states are garbage once it ends; collect them untimed, or the next run pays
    // for the previous one's hundreds of MB (Bun frees large typed arrays lazily).
    Bun.gc(true);
    decodeRuns.push(orders / (decodeAll(schedule, config.lineNames, orders) / 1000));
    const a = applyAll(schedule, config, storedMs, orders);
    applyRuns.push(orders / (a.ms / 1000));
    changes = a.changes;
    messageP999 = Math.max(messageP999, a.messageMsP999);
    messageMax = Math.max(messageMax, a.messageMsMax);
    Bun.gc(true);
    noDedupRuns.push(orders / (applyAll(schedule, noDedup, storedMs, orders).ms / 1000));
    ctx.log(`apply: run ${r + 1}: ${Math.round(applyRuns[r])} orders/s applied, ${Math.round(decodeRuns[r])} decoded`);
  }
  const decode = median(decodeRuns);
  const apply = median(applyRuns);
  ctx.note(
    `apply: each run produced ${changes.toLocaleString("en")} tier changes (${((changes / orders) * 100).toFixed(1)} per 100 orders; ` +
      `objects returned by applyMessage, not published).`,
  );
  const nsPerOrder = (rate: number) => 1e9 / rate;
  return [
    { metric: "generate + encode (OrderGenerator.fillPartitionBatches)", value: orders / (generateMs / 1000), unit: "orders/s" },
    { metric: "decode only (OrderReader begin/next, no state)", value: decode, unit: "orders/s" },
    compared({
      metric: "applyMessage into fresh PartitionStates",
      value: apply,
      unit: "orders/s",
      ceiling: { name: "decode only", value: decode },
    }),
    { metric: "applyMessage, slowest of the timed runs", value: Math.min(...applyRuns), unit: "orders/s" },
    {
      metric: "applyMessage with dedupHorizonMs 0 (no dedup working set)",
      value: median(noDedupRuns),
      unit: "orders/s",
    },
    { metric: "one message (≤ 256 orders) applied, p99.9 (worst of the timed runs)", value: messageP999, unit: "ms" },
    { metric: "one message applied, longest (a stall of its partition: growth of a hash or arena)", value: messageMax, unit: "ms" },
    { metric: "time per order: decode", value: nsPerOrder(decode), unit: "ns" },
    { metric: "time per order: dedup horizon (apply − apply with horizon 0)", value: nsPerOrder(apply) - nsPerOrder(median(noDedupRuns)), unit: "ns" },
    { metric: "time per order: members, cells, tiers (apply with horizon 0 − decode)", value: nsPerOrder(median(noDedupRuns)) - nsPerOrder(decode), unit: "ns" },
  ];
}

function decodeAll(schedule: Schedule, lines: readonly string[], expected: number): number {
  const reader = new OrderReader(lines);
  let n = 0;
  let check = 0;
  const t = performance.now();
  for (const body of schedule.bodies) {
    reader.begin(body);
    while (reader.next()) {
      n++;
      check += reader.amount; // read a field, so the loop is not just skipping
    }
  }
  const ms = performance.now() - t;
  if (n !== expected || !(check > 0)) throw new Error(`decode saw ${n} orders, expected ${expected}`);
  return ms;
}

function applyAll(
  schedule: Schedule,
  config: ReturnType<typeof loadConfig>,
  storedMs: number,
  expected: number,
): { ms: number; changes: number; messageMsP999: number; messageMsMax: number } {
  const states = Array.from({ length: PARTITIONS }, (_, p) => new PartitionState(config, p));
  const reader = new OrderReader(config.lineNames);
  const { partitions, bodies } = schedule;
  let applied = 0;
  let bad = 0;
  let changes = 0;
  // Each message's own time too: a long one is a stall of its partition (and of the engine's
  // event loop), whatever the average says.
  const messageMs = new Float64Array(bodies.length);
  const t = performance.now();
  for (let i = 0; i < bodies.length; i++) {
    const m0 = performance.now();
    const r = applyMessage(states[partitions[i]], reader, bodies[i], storedMs);
    messageMs[i] = performance.now() - m0;
    applied += r.applied;
    bad += r.deadLetters.length + r.duplicates;
    changes += r.changes.length;
  }
  const ms = performance.now() - t;
  if (applied !== expected || bad !== 0) throw new Error(`applied ${applied} of ${expected} orders; ${bad} dead or duplicate`);
  messageMs.sort();
  return { ms, changes, messageMsP999: messageMs[Math.floor(messageMs.length * 0.999)], messageMsMax: messageMs[messageMs.length - 1] };
}
