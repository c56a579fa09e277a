// What CLAIMS holds for one benefit: its records after a sequence (the stream's last before
// the benefit was defined) up to the stream's last now, through an ordered consumer that
// leaves nothing on the server. A "won" record is a unit sold.

import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { parseClaimRecord } from "../../proto/claim-record.ts";
import { CLAIMS_ALL_FILTER, STREAM_CLAIMS } from "../../proto/names.ts";

export interface ClaimsInStream {
  /** Records of the benefit, by outcome. */
  byOutcome: Record<string, number>;
  records: number;
  won: number;
  /** won records per member. */
  wonBy: Map<number, number>;
  /** Messages read (every benefit's) and how long it took. */
  scanned: number;
  ms: number;
}

/** CLAIMS' last sequence now (read before defining the benefit). */
export async function claimsLastSeq(nc: NatsConnection): Promise<number> {
  return (await (await jetstreamManager(nc)).streams.info(STREAM_CLAIMS)).state.last_seq;
}

export async function readClaimsOf(nc: NatsConnection, benefit: string, afterSeq: number): Promise<ClaimsInStream> {
  const t0 = performance.now();
  const out: ClaimsInStream = { byOutcome: {}, records: 0, won: 0, wonBy: new Map(), scanned: 0, ms: 0 };
  const last = await claimsLastSeq(nc);
  if (last > afterSeq) {
    const c = await jetstream(nc).consumers.get(STREAM_CLAIMS, { filter_subjects: CLAIMS_ALL_FILTER, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSeq + 1 });
    const iter = await c.consume({ max_bytes: 4 * 1024 * 1024 });
    try {
      for await (const m of iter) {
        out.scanned++;
        const r = parseClaimRecord(m.data);
        if (r !== null && r.benefit === benefit) {
          out.records++;
          out.byOutcome[r.outcome] = (out.byOutcome[r.outcome] ?? 0) + 1;
          if (r.outcome === "won") {
            out.won++;
            out.wonBy.set(r.member, (out.wonBy.get(r.member) ?? 0) + 1);
          }
        }
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } finally {
      await iter.close();
    }
  }
  out.ms = performance.now() - t0;
  return out;
}
