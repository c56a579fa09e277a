// Probe orders for the order → frame latency. Each probe member is connected to a gateway
// (its hello told us its score), and each probe is the one order that lifts it over its next
// tier threshold, so it causes exactly one `tier` frame whose cause is the probe's id — and
// the id carries the wall clock just before the publish (loadtest/stack/probe-id.ts), so the
// client times the frame without a lookup. A member takes at most one probe per tier above
// its own (5 from bronze); probes are spread round robin.

import type { JetStreamClient } from "@nats-io/jetstream";
import type { Config } from "../../engine/config.ts";
import { encodeOrders } from "../../proto/codec.ts";
import { ordersSubject } from "../../proto/names.ts";
import { partitionOf } from "../../proto/partition.ts";
import { TIERS } from "../../proto/types.ts";
import { probeId } from "../stack/probe-id.ts";
import { wallNowMs } from "../stack/role.ts";

export const PROBE_PHASE = "loadtest";
/** The line probes are placed on (the config's first). */
const PROBE_LINE = 0;

export interface ProbeMember {
  member: number;
  score: number;
}

export class ProbeSender {
  sent = 0;
  acked = 0;
  errors = 0;
  exhausted = false;
  private readonly members: number[];
  private readonly score: Float64Array;
  private readonly tier: Int32Array;
  private cursor = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly config: Config,
    members: readonly ProbeMember[],
    /** Probes per second. */
    readonly ratePerSec: number,
  ) {
    this.members = members.map((m) => m.member);
    this.score = Float64Array.from(members, (m) => m.score);
    this.tier = Int32Array.from(members, (m) => tierOf(config, m.score));
  }

  /** Probes the members can take in all. */
  get capacity(): number {
    let n = 0;
    for (const t of this.tier) n += TIERS.length - 1 - t;
    return n;
  }

  /** Sends the probes due by `ms` since the start. */
  sendDue(ms: number): void {
    const due = Math.floor((ms * this.ratePerSec) / 1000) - this.sent;
    for (let k = 0; k < due && !this.exhausted; k++) this.sendOne();
  }

  private sendOne(): void {
    const c = this.config;
    const milli = c.lineMilli[PROBE_LINE];
    for (let tried = 0; tried < this.members.length; tried++) {
      const i = this.cursor++ % this.members.length;
      const tier = this.tier[i];
      if (tier + 1 >= TIERS.length) continue;
      const needed = c.ladder[tier + 1] - this.score[i];
      const amount = Math.ceil((needed * 100000) / milli);
      const points = Math.min(c.orderPointsMax, Math.floor((amount * milli) / 100000));
      if (points < needed) continue; // the per-order cap: this member's next tier takes two orders
      this.score[i] += points;
      this.tier[i] = tierOf(c, this.score[i]);
      const member = this.members[i];
      const sentMs = wallNowMs();
      const id = probeId(PROBE_PHASE, this.sent++, sentMs);
      const body = encodeOrders([{ id, member, line: c.lineNames[PROBE_LINE], kind: "paid", amount, ts: Math.floor(sentMs) }]);
      this.js.publish(ordersSubject(partitionOf(member, c.partitions)), body).then(
        () => void this.acked++,
        () => void this.errors++,
      );
      return;
    }
    this.exhausted = true;
  }
}

function tierOf(config: Config, score: number): number {
  let t = 0;
  while (t + 1 < TIERS.length && score >= config.ladder[t + 1]) t++;
  return t;
}
