// Where a probe's latency went, split at the two timestamps JetStream wrote on the way:
//   publish  → stored in ORDERS        (publisher, nats-server)
//   ORDERS   → stored in TIER_EVENTS   (the engine: consume, apply, publish the change, its ack)
//   TIER_EVENTS → live message         (the engine's live publish after the ack, nats-server),
//                                       as an observer subscribed beside the gateway saw it
//   live message → frame at the client (the gateway, the WebSocket)
// nats-server stamps each stored message with its wall clock (ns, RFC 3339); the publisher and
// the clients stamp theirs with the same machine's clock (role.ts wallNowMs).

import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { STREAM_ORDERS, STREAM_TIER_EVENTS } from "../../proto/names.ts";
import { LatencyRecorder, type LatencySummary } from "./latency.ts";
import { parseProbeId } from "./probe-id.ts";

const LOOKUPS_IN_FLIGHT = 32;

export interface ProbeSplit {
  probes: number;
  toOrders: LatencySummary;
  engine: LatencySummary;
  toLive: LatencySummary;
  gateway: LatencySummary;
}

/** An RFC 3339 timestamp with up to 9 fractional digits, as ms since 1970 with the fraction kept. */
export function timestampMs(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (m === null) throw new Error(`not an RFC 3339 timestamp: ${ts}`);
  const fraction = m[2] === undefined ? 0 : Number(`0.${m[2]}`) * 1000;
  return Date.parse(`${m[1]}${m[3]}`) + fraction;
}

/** Stored time of stream message `seq`, or NaN when it is not there. */
async function storedMs(jsm: JetStreamManager, stream: string, seq: number): Promise<number> {
  const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
  return m === null ? Number.NaN : timestampMs(m.timestamp);
}

/**
 * `published`: [probe id, ORDERS seq] as the publisher's acks gave them; `arrived`: [probe id,
 * TIER_EVENTS seq, frame arrival ms, live message arrival ms] as the client process saw them.
 */
export async function splitProbes(natsUrl: string, published: [string, number][], arrived: [string, number, number, number][]): Promise<ProbeSplit> {
  const ordersSeq = new Map(published);
  const recorders = { toOrders: new LatencyRecorder(), engine: new LatencyRecorder(), toLive: new LatencyRecorder(), gateway: new LatencyRecorder() };
  const nc = await connect({ servers: natsUrl, name: "bench-probe-split" });
  let probes = 0;
  try {
    const jsm = await jetstreamManager(nc);
    let next = 0;
    const worker = async () => {
      while (next < arrived.length) {
        const [id, tierSeq, arrivedMs, liveMs] = arrived[next++];
        const sent = parseProbeId(id);
        const oSeq = ordersSeq.get(id);
        if (sent === null || oSeq === undefined || tierSeq < 1 || liveMs < 0) continue;
        const [o, t] = await Promise.all([storedMs(jsm, STREAM_ORDERS, oSeq), storedMs(jsm, STREAM_TIER_EVENTS, tierSeq)]);
        if (!Number.isFinite(o) || !Number.isFinite(t)) continue;
        recorders.toOrders.record(o - sent.sentMs);
        recorders.engine.record(t - o);
        recorders.toLive.record(liveMs - t);
        recorders.gateway.record(arrivedMs - liveMs);
        probes++;
      }
    };
    await Promise.all(Array.from({ length: LOOKUPS_IN_FLIGHT }, worker));
  } finally {
    await nc.close().catch(() => {});
  }
  return {
    probes,
    toOrders: recorders.toOrders.summary(),
    engine: recorders.engine.summary(),
    toLive: recorders.toLive.summary(),
    gateway: recorders.gateway.summary(),
  };
}
