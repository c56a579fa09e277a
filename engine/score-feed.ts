// ScoreFeed: live score ticks for the members some gateway watches, one partition.
//
// Gateways hold leases on members (tierstream.interest.<p>); the partition's state calls
// `touched` after every score change, which costs one typed-hash probe for unwatched members.
// Watched members' changes are coalesced — the sum of deltas, the last line and ts — and
// published on score.<p>.<member> at most once per member per flush interval (100 ms).

import type { NatsConnection } from "@nats-io/transport-node";
import { scoreSubject } from "../proto/names.ts";
import { LeaseSet } from "./state/lease-set.ts";

export const SCORE_FLUSH_INTERVAL_MS = 100;

export interface ScoreSink {
  touched(member: number, score: number, delta: number, line: number, ts: number): void;
}

interface PendingScore {
  score: number;
  delta: number;
  line: number;
  ts: number;
}

export class ScoreFeed implements ScoreSink {
  readonly leases = new LeaseSet();
  private pending = new Map<number, PendingScore>();
  published = 0;

  constructor(
    private readonly nc: NatsConnection,
    readonly partition: number,
    private readonly lineNames: readonly string[],
  ) {}

  touched(member: number, score: number, delta: number, line: number, ts: number): void {
    if (!this.leases.has(member)) return;
    const p = this.pending.get(member);
    if (p) {
      p.score = score;
      p.delta += delta;
      p.line = line;
      p.ts = ts;
    } else {
      this.pending.set(member, { score, delta, line, ts });
    }
  }

  /** Publishes one coalesced tick per touched, watched member. */
  flush(): void {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    for (const [member, s] of batch) {
      const frame = { type: "score", member, score: s.score, delta: s.delta, line: this.lineNames[s.line], ts: s.ts };
      this.nc.publish(scoreSubject(this.partition, member), JSON.stringify(frame));
      this.published++;
    }
  }
}
