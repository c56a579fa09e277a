// Orders into JetStream at a steady rate, and probe orders among them, from a process of its
// own (not the gateway's, not the clients'):  bun loadtest/stack/order-load-role.ts <natsUrl>
//
// Commands:
//   probeMembers {members}: the members probes go to — members no background order touches,
//     so this process knows each one's score exactly and every probe crosses the member's next
//     tier threshold by construction (one probe per threshold: 5 per member on the default
//     ladder).
//   run {ratePerSec, durationMs, members, seed, probes}: for durationMs, every TICK_MS, the
//     orders due at ratePerSec from the realistic population (loadtest/population.ts: Zipf +
//     uniform members, event time following the wall clock), written per partition into
//     messages of ≤ 256 orders, published without waiting (≤ IN_FLIGHT_MAX unacknowledged
//     messages; past that a tick generates nothing and the rate falls short, which is
//     reported, not hidden). Probes go out on a second connection, one order per message, each
//     stamped with the wall clock just before it is encoded and published (probe-id.ts).
//
// The background goes out through a ReplyInbox (proto/reply-inbox.ts: one inbox subscription,
// no promise or timer per publish), not js.publish: this process shares the machine's cores
// with what it measures, and at 200 000 orders/s on 2 cores it took 0.16 of a core instead
// of 0.25 (three alternated pairs of the feed benchmark's target phase). Not the engine's
// AckedPublisher: it resends what is waiting after a reconnect, and these messages carry no
// Nats-Msg-Id for JetStream to drop the second copies by.

import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { loadConfig } from "../../engine/config.ts";
import { encodeOrders } from "../../proto/codec.ts";
import { ordersSubject } from "../../proto/names.ts";
import { partitionOf } from "../../proto/partition.ts";
import { readPubAck } from "../../proto/pub-ack.ts";
import { ReplyInbox } from "../../proto/reply-inbox.ts";
import { TIERS } from "../../proto/types.ts";
import { OrderGenerator } from "../population.ts";
import { probeId } from "./probe-id.ts";
import { serveRole, wallNowMs } from "./role.ts";

const TICK_MS = 10;
/** At most this much of the rate's backlog is generated in one tick (a late tick does not burst). */
const CATCH_UP_MS_MAX = 50;
const ORDERS_PER_MESSAGE = 256;
const IN_FLIGHT_MAX = 4096;
const DRAIN_DEADLINE_MS = 30_000;
const ACK_TIMEOUT_MS = 10_000;

const config = loadConfig({});
const PROBE_LINE = 0;
const milli = config.lineMilli[PROBE_LINE];
const pointsOf = (amount: number) => Math.min(config.orderPointsMax, Math.floor((amount * milli) / 100000));

export interface RunArgs {
  ratePerSec: number;
  durationMs: number;
  members: number;
  seed: number;
  probes: { phase: string; ratePerSec: number } | null;
}

export interface RunResult {
  /** Orders generated and published within the window. */
  offered: number;
  /** Of those, acknowledged (stored) by JetStream by the end of the window. */
  ackedInWindow: number;
  /** Acknowledged in all, after waiting for the last acks. */
  acked: number;
  messages: number;
  publishErrors: number;
  firstError: string | null;
  windowMs: number;
  /** Ticks that generated nothing because IN_FLIGHT_MAX messages were unacknowledged. */
  ticksBlocked: number;
  ticks: number;
  probesSent: number;
  probesAcked: number;
  probesExhausted: boolean;
  /** Each probe acknowledged: [its id, its ORDERS sequence]. */
  probes: [string, number][];
}

let nc: NatsConnection;
let probeNc: NatsConnection;
let inbox: ReplyInbox;
let probeJs: JetStreamClient;
let probeMembers: number[] = [];
let probeScore = new Float64Array(0);
let probeTier = new Int32Array(0);
let probeCursor = 0;
let probeSeq = 0;
let runs = 0;

/** Orders in a message body: a msgpack array header (partition-batcher.ts writes both forms). */
const ordersIn = (body: Uint8Array) => (body[0] === 0xdc ? (body[1] << 8) | body[2] : body[0] & 0x0f);

function setProbeMembers({ members }: { members: number[] }): { probesMax: number } {
  probeMembers = members;
  probeScore = new Float64Array(members.length);
  probeTier = new Int32Array(members.length);
  probeCursor = 0;
  return { probesMax: members.length * (TIERS.length - 1) };
}

/** The next probe: the next member (round robin) that has a tier above it, and the amount that reaches it. */
function nextProbe(): { member: number; amount: number; i: number } | null {
  for (let tried = 0; tried < probeMembers.length; tried++) {
    const i = probeCursor++ % probeMembers.length;
    const tier = probeTier[i];
    if (tier + 1 >= TIERS.length) continue;
    const needed = config.ladder[tier + 1] - probeScore[i];
    const amount = Math.ceil((needed * 100000) / milli);
    if (pointsOf(amount) < needed) throw new Error(`a probe cannot cross ${TIERS[tier + 1]} in one order (orderPointsMax)`);
    return { member: probeMembers[i], amount, i };
  }
  return null;
}

async function run(a: RunArgs): Promise<RunResult> {
  const gen = new OrderGenerator({ seed: a.seed * 1000 + runs++, members: a.members, startTs: Date.now(), ratePerSec: Math.max(1, a.ratePerSec) });
  const r: RunResult = {
    offered: 0,
    ackedInWindow: 0,
    acked: 0,
    messages: 0,
    publishErrors: 0,
    firstError: null,
    windowMs: 0,
    ticksBlocked: 0,
    ticks: 0,
    probesSent: 0,
    probesAcked: 0,
    probesExhausted: false,
    probes: [],
  };
  let inFlight = 0;
  const failed = (err: unknown) => {
    r.publishErrors++;
    r.firstError ??= err instanceof Error ? err.message : String(err);
  };
  const batcher = gen.batcher(config.partitions, ORDERS_PER_MESSAGE, (p, view) => {
    const body = view.slice(); // the view is the batcher's reused buffer
    const n = ordersIn(body);
    inFlight++;
    r.messages++;
    inbox.send(
      ordersSubject(p),
      body,
      undefined,
      (ack) => {
        inFlight--;
        const stored = readPubAck(ack.data);
        if (typeof stored === "number") r.acked += n;
        else failed(stored);
      },
      (err) => {
        inFlight--;
        failed(err);
      },
    );
  });
  const sendProbe = (phase: string) => {
    const probe = nextProbe();
    if (probe === null) return void (r.probesExhausted = true);
    const sentMs = wallNowMs();
    const id = probeId(phase, probeSeq++, sentMs);
    const body = encodeOrders([{ id, member: probe.member, line: config.lineNames[PROBE_LINE], kind: "paid", amount: probe.amount, ts: Math.floor(sentMs) }]);
    probeScore[probe.i] += pointsOf(probe.amount);
    while (probeTier[probe.i] + 1 < TIERS.length && probeScore[probe.i] >= config.ladder[probeTier[probe.i] + 1]) probeTier[probe.i]++;
    r.probesSent++;
    probeJs.publish(ordersSubject(partitionOf(probe.member, config.partitions)), body).then((ack) => {
      r.probesAcked++;
      r.probes.push([id, ack.seq]);
    }, failed);
  };

  const t0 = performance.now();
  let elapsed = 0;
  while ((elapsed = performance.now() - t0) < a.durationMs) {
    r.ticks++;
    if (a.ratePerSec > 0) {
      const due = Math.min(Math.floor((elapsed * a.ratePerSec) / 1000) - r.offered, Math.ceil((CATCH_UP_MS_MAX * a.ratePerSec) / 1000));
      if (inFlight >= IN_FLIGHT_MAX) r.ticksBlocked++;
      else if (due > 0) {
        gen.writeBatches(due, batcher);
        batcher.flush();
        r.offered += due;
      }
    }
    if (a.probes !== null && !r.probesExhausted) {
      const due = Math.floor((elapsed * a.probes.ratePerSec) / 1000) - r.probesSent;
      for (let k = 0; k < due && !r.probesExhausted; k++) sendProbe(a.probes.phase);
    }
    await Bun.sleep(TICK_MS);
  }
  r.windowMs = performance.now() - t0;
  r.ackedInWindow = r.acked;
  const drainUntil = performance.now() + DRAIN_DEADLINE_MS;
  while ((inFlight > 0 || r.probesAcked + r.publishErrors < r.probesSent) && performance.now() < drainUntil) await Bun.sleep(TICK_MS);
  return r;
}

async function main(natsUrl: string): Promise<void> {
  nc = await connect({ servers: natsUrl, name: "bench-order-load" });
  probeNc = await connect({ servers: natsUrl, name: "bench-probes" });
  inbox = new ReplyInbox(nc, ACK_TIMEOUT_MS);
  probeJs = jetstream(probeNc);
  serveRole({ pid: process.pid }, { probeMembers: setProbeMembers, run }, async () => {
    await nc.drain().catch(() => {});
    await probeNc.drain().catch(() => {});
  });
}

await main(process.argv[2]);
