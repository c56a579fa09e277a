// catchup: how fast one engine process replays ORDERS from a real nats-server.
//
// 1. Publish the population's orders as 256-order messages, pipelined (the publish rate).
// 2. The raw consume ceiling: the 64 partition streams read with ordered consumers in this
//    process, each message through OrderReader, no state. Run twice; the first also warms the
//    server's block cache and the JIT for everything after it, and the best counts.
// 3. The runner's loop without the runner: the same consumers, each message through
//    applyMessage into fresh states (no outbox, no tier-change publishing).
// 4. Engine.start over the same stream, timed until whenCaughtUp() and every order applied:
//    first on an empty TIER_EVENTS (it publishes every tier change), then again as a restart
//    (the changes are stored; it publishes none).
// Everything runs in this one process against one server, one step after another.
// Two sizes: `catchup` (4 M orders: a few seconds of backlog at the rates this engine serves,
// where start-up is a good part of the time) and `catchup-long` (16 M orders over the same
// members: a longer backlog, where the replay rate itself shows).

import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { applyMessage } from "../../engine/apply-message.ts";
import { type Config, loadConfig } from "../../engine/config.ts";
import * as runnerModule from "../../engine/partition-runner.ts";
import { PartitionState } from "../../engine/state/partition-state.ts";
import { STREAM_ORDERS } from "../../proto/names.ts";
import { OrderReader } from "../../proto/reader.ts";
import { ensureStreams } from "../../proto/streams.ts";
import { startNatsServer } from "../../scripts/nats-server.ts";
import { consumePartitions } from "../consume-partitions.ts";
import { cpuSpan } from "../cpu-time.ts";
import { withDeadline } from "../deadline.ts";
import { type EngineRun, timeEngine } from "../engine-run.ts";
import { interleave, type Schedule } from "../interleave.ts";
import { OrderGenerator } from "../population.ts";
import { publishSchedule } from "../publish.ts";
import { type BenchContext, type BenchModule, compared, type RowDraft } from "./types.ts";

const PARTITIONS = 64;
const ORDERS_PER_MESSAGE = 256;
const ORDERS = 4_000_000;
const ORDERS_LONG = 16_000_000;
const MEMBERS = 500_000;
const PUBLISH_IN_FLIGHT_MAX = 256;
/**
 * Pull batches of the ceiling's consumers, in bytes: 64 partitions × 256 KiB = 16 MiB in
 * flight, a quarter of nats-server's default 64 MiB max_pending per connection. (Batches of
 * 256 messages of ~12.7 KB would be 208 MiB: the server cuts the connection as a slow consumer.)
 */
const CEILING_PULL_BYTES = 256 * 1024;
const PHASE_DEADLINE_MS = 60_000;
/** An engine run that has not caught up by then is reported as it stands, and fails. */
const ENGINE_DEADLINE_MS = 90_000;

const CATCHUP_ORDERS_PER_S_MIN = 2_000_000;
const CATCHUP_RATIO_MIN = 0.8;

export const catchupBench: BenchModule = {
  name: "catchup",
  description:
    "publish the population to a real nats-server, then in one process: the raw consume ceiling, consume + applyMessage, and the engine's catch-up",
  run: (ctx) => run(ctx, "catchup", ORDERS),
};

export const catchupLongBench: BenchModule = {
  name: "catchup-long",
  description: `catchup with ${ORDERS_LONG / 1e6} M orders over the same members instead of ${ORDERS / 1e6} M: a backlog long enough that the engine's start-up is a small part of it`,
  run: (ctx) => run(ctx, "catchup-long", ORDERS_LONG),
};

async function run(ctx: BenchContext, name: string, fullOrders: number): Promise<RowDraft[]> {
  const orders = Math.round(fullOrders * ctx.scale);
  const members = Math.round(MEMBERS * ctx.scale);
  const gen = new OrderGenerator({ seed: ctx.seed, members });
  // Let go of once published: 50 bytes an order held through every timed phase slowed them
  // all (16 M orders: 0.8 GB of heap for the collector to weigh).
  let schedule: Schedule | null = interleave(gen.fillPartitionBatches(orders, PARTITIONS, ORDERS_PER_MESSAGE));
  const { perPartition } = schedule;
  const messages = schedule.bodies.length;
  const config = loadConfig({ tickIntervalMs: 0 });
  const busiest = Math.max(...perPartition);
  ctx.note(
    `${name}: ${orders.toLocaleString("en")} orders of the default population (${members.toLocaleString("en")} members), ` +
      `${messages.toLocaleString("en")} messages of ≤ ${ORDERS_PER_MESSAGE} orders with a Nats-Msg-Id each, ` +
      `published round-robin over ${PARTITIONS} partitions with ${PUBLISH_IN_FLIGHT_MAX} publishes in flight. ` +
      `The busiest partition holds ${busiest} messages (${((busiest / messages) * 100).toFixed(1)} %; an even share is ` +
      `${(100 / PARTITIONS).toFixed(1)} %): the Zipf head lands in one partition.`,
  );

  const server = await startNatsServer();
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: server.url });
    await ensureStreams(await jetstreamManager(nc));
    const js = jetstream(nc);
    const rows: RowDraft[] = [];

    ctx.log(`${name}: publishing ${messages} messages`);
    const pubCpu = cpuSpan(server.pid);
    const pub = await withDeadline(publishSchedule(js, schedule, `bench.${ctx.seed}`, PUBLISH_IN_FLIGHT_MAX), PHASE_DEADLINE_MS, "publish");
    schedule = null;
    cpuRows(rows, "publish", pubCpu());
    const stored = (await (await jetstreamManager(nc)).streams.info(STREAM_ORDERS)).state;
    if (stored.messages !== messages || pub.duplicates !== 0) {
      throw new Error(`ORDERS holds ${stored.messages} messages (${pub.duplicates} duplicates); published ${messages}`);
    }
    ctx.note(`${name}: ORDERS holds ${stored.bytes.toLocaleString("en")} bytes (${(stored.bytes / orders).toFixed(1)} per order).`);
    const runnerNote = runnerPullNote(stored.bytes / messages);
    if (runnerNote !== null) ctx.note(`${name}: ${runnerNote}`);
    rows.unshift(
      { metric: "publish, 256 in flight", value: orders / (pub.ms / 1000), unit: "orders/s" },
      { metric: "publish, 256 in flight (messages)", value: messages / (pub.ms / 1000), unit: "msgs/s" },
    );

    const rawRates: number[] = [];
    for (let pass = 1; pass <= 2; pass++) {
      ctx.log(`${name}: raw consume ceiling, pass ${pass}`);
      Bun.gc(true); // each timed phase starts from a collected heap
      const span = cpuSpan(server.pid);
      const ms = await consumeDecodeOnly(js, perPartition, config, orders);
      rawRates.push(orders / (ms / 1000));
      if (pass === 2) cpuRows(rows, "raw consume", span());
    }
    const rawRate = Math.max(...rawRates);
    rows.push(
      { metric: "raw consume ceiling, pass 1 (cold server cache, cold JIT)", value: rawRates[0], unit: "orders/s" },
      { metric: "raw consume ceiling, pass 2", value: rawRates[1], unit: "orders/s" },
      { metric: "raw consume ceiling (best pass): OrderedPull per partition + OrderReader", value: rawRate, unit: "orders/s" },
    );
    const ceiling = { name: "raw consume ceiling", value: rawRate };

    ctx.log(`${name}: consume + applyMessage`);
    Bun.gc(true);
    const loopCpu = cpuSpan(server.pid);
    const loopMs = await consumeAndApply(js, perPartition, config, orders);
    rows.push(compared({ metric: "consume + applyMessage (the runner's loop, no outbox)", value: orders / (loopMs / 1000), unit: "orders/s", ceiling }));
    cpuRows(rows, "consume + applyMessage", loopCpu());
    ctx.note(
      `${name}: the ceiling and consume + applyMessage pull ${CEILING_PULL_BYTES / 1024} KiB per partition per batch ` +
        `(max_bytes); the engine's runners pull their own batches (engine/partition-runner.ts).`,
    );

    const target = `≥ ${CATCHUP_ORDERS_PER_S_MIN.toLocaleString("en")} orders/s and ≥ ${CATCHUP_RATIO_MIN} × ceiling`;
    const check = { atLeast: CATCHUP_ORDERS_PER_S_MIN, ratioAtLeast: CATCHUP_RATIO_MIN };
    const engineRows = (r: EngineRun, what: string) => {
      rows.push(compared({ metric: `engine catch-up, ${what}`, value: r.applied / (r.ms / 1000), unit: "orders/s", ceiling, target }, check));
      rows.push({ metric: `engine catch-up, ${what}: time to Engine.start resolving`, value: r.startedMs, unit: "ms" });
      rows.push({ metric: `engine catch-up, ${what}: total time`, value: r.ms, unit: "ms" });
      cpuRows(rows, `engine catch-up, ${what}`, r.cpu);
      rows.push({ metric: `engine catch-up, ${what}: longest stretch with no order applied`, value: r.longestStallMs, unit: "ms" });
      rows.push({ metric: `engine catch-up, ${what}: warnings logged (failed publishes it retries)`, value: r.warnings, unit: "lines" });
      ctx.note(`${name}: engine ${what}: nats-server log so far: ${r.serverLogSummary}.`);
      if (!r.caughtUp) {
        ctx.note(
          `${name}: engine ${what}: NOT caught up after ${ENGINE_DEADLINE_MS / 1000} s — ${r.applied.toLocaleString("en")} ` +
            `of ${orders.toLocaleString("en")} orders applied, ${r.warnings.toLocaleString("en")} warnings logged (failed tier-change publishes it retries); ` +
            `its rate is orders applied ÷ ${ENGINE_DEADLINE_MS / 1000} s.`,
        );
      }
    };
    const first = await timeEngine({ ctx, server, config, orders, label: "first run", deadlineMs: ENGINE_DEADLINE_MS });
    engineRows(first, "first run (publishes every tier change)");
    ctx.note(
      `${name}: the first engine run found ${first.tierChanges.toLocaleString("en")} tier changes and published each to ` +
        `TIER_EVENTS while catching up (its outbox; in that run's time). A restart finds the same changes stored and publishes none.`,
    );
    if (first.caughtUp) {
      const restart = await timeEngine({ ctx, server, config, orders, label: "restart", deadlineMs: ENGINE_DEADLINE_MS });
      engineRows(restart, "restart replay (tier changes already stored)");
    } else {
      ctx.note(`${name}: the restart replay was skipped: the first run never caught up, so TIER_EVENTS is incomplete.`);
    }
    return rows;
  } finally {
    await nc?.close().catch(() => {});
    await server.cleanup();
  }
}

async function consumeDecodeOnly(js: JetStreamClient, perPartition: Int32Array, config: Config, orders: number): Promise<number> {
  const readers = Array.from(perPartition, () => new OrderReader(config.lineNames));
  const r = await withDeadline(
    consumePartitions(js, perPartition, CEILING_PULL_BYTES, (p, m) => {
      const reader = readers[p];
      if (reader.begin(m.data) !== null) throw new Error(`partition ${p}: a malformed message`);
      let n = 0;
      while (reader.next()) n++;
      return n;
    }),
    PHASE_DEADLINE_MS,
    "raw consume",
  );
  if (r.orders !== orders) throw new Error(`raw consume read ${r.orders} of ${orders} orders`);
  return r.ms;
}

async function consumeAndApply(js: JetStreamClient, perPartition: Int32Array, config: Config, orders: number): Promise<number> {
  const states = Array.from(perPartition, (_, p) => new PartitionState(config, p));
  const readers = Array.from(perPartition, () => new OrderReader(config.lineNames));
  const r = await withDeadline(
    consumePartitions(js, perPartition, CEILING_PULL_BYTES, (p, m) => {
      const storedMs = Math.floor(m.timestampNanos / 1e6);
      const result = applyMessage(states[p], readers[p], m.data, storedMs);
      if (result.deadLetters.length > 0) throw new Error(`partition ${p}: ${result.deadLetters[0].code}`);
      return result.applied;
    }),
    PHASE_DEADLINE_MS,
    "consume + applyMessage",
  );
  if (r.orders !== orders) throw new Error(`consume + applyMessage applied ${r.orders} of ${orders} orders`);
  return r.ms;
}

/** How the engine's runners bound their pulls, as the engine exports it (null when it does not). */
function runnerPullNote(bytesPerMessage: number): string | null {
  const budget = (runnerModule as Record<string, unknown>).CONSUME_BUFFER_BYTES_TOTAL;
  if (typeof budget !== "number") return null;
  const perPartition = budget / PARTITIONS;
  return (
    `the engine's runners share a pull budget of ${budget / 2 ** 20} MiB (CONSUME_BUFFER_BYTES_TOTAL): ` +
    `${Math.round(perPartition / 1024)} KiB per partition, ${(perPartition / bytesPerMessage).toFixed(1)} messages of this run.`
  );
}

function cpuRows(rows: RowDraft[], phase: string, span: { wallS: number; selfS: number; otherS: number }): void {
  rows.push(
    { metric: `${phase}: bun CPU per wall second`, value: span.selfS / span.wallS, unit: "cores" },
    { metric: `${phase}: nats-server CPU per wall second`, value: span.otherS / span.wallS, unit: "cores" },
  );
}
