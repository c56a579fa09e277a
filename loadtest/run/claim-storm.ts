// The claim storm: every claimant claims at once through the gateway(s), `concurrency` claims
// in flight at most (keep-alive connections, each with one request outstanding). A member's
// claims run one after another, each with its own Idempotency-Key. A sample of members also
// repeats its first claim with the same key (the answer must be the same) and, when its
// claims used every attempt the limit allows, claims once more with a new key (it must be
// refused 409 already_claimed). Every main claim's
// latency, from its first send to its answer (503 retries included), goes to the timeline.

import { type ClaimAnswer, type ClaimTarget, postClaim } from "./claim-request.ts";
import type { Timeline } from "./timeline.ts";

const DIFFERING_KEPT = 10;

export interface StormPlan {
  /** One per gateway; claimants are spread over them round robin. */
  targets: ClaimTarget[];
  claimants: readonly number[];
  perMember: number;
  concurrency: number;
  /** Members who repeat their first claim with its key, and (when they used every attempt) claim once more. */
  sample: ReadonlySet<number>;
  /** Idempotency-Keys are `<keyPrefix>-<member>-<k>`. */
  keyPrefix: string;
  timeline: Timeline;
  /** performance.now() at the timeline's origin. */
  t0: number;
  /** Stops sending new claims (those in flight finish). */
  signal: AbortSignal;
}

export interface SideClaims {
  sent: number;
  byStatus: Record<string, number>;
  unanswered: number;
}

export class ClaimStorm {
  /** Main claims (claimants × perMember). */
  sent = 0;
  answered = 0;
  won = 0;
  unanswered = 0;
  /** 503s and lost connections retried with the same key. */
  transientRetries = 0;
  byStatus: Record<string, number> = {};
  /** 201s per member (main claims and those beyond the limit). */
  readonly wonBy = new Map<number, number>();
  /** Same-key repeats: how many, how many answered exactly as the first time, the first that were not. */
  readonly repeats = { sent: 0, same: 0, unanswered: 0, differing: [] as { member: number; first: string; again: string }[] };
  /** Claims beyond --per-member by the sample's members who used every attempt: each must get 409. */
  readonly beyond: SideClaims = { sent: 0, byStatus: {}, unanswered: 0 };
  firstError: string | null = null;
  /** Timeline ms of the first main send and of the last main answer. */
  startMs = Number.NaN;
  endMs = Number.NaN;

  constructor(private readonly plan: StormPlan) {}

  /** Main claims answered per second of the storm. */
  get perSec(): number {
    const s = (this.endMs - this.startMs) / 1000;
    return s > 0 ? this.answered / s : 0;
  }

  async run(): Promise<void> {
    const p = this.plan;
    let next = 0;
    const worker = async () => {
      while (!p.signal.aborted && next < p.claimants.length) {
        const i = next++;
        const member = p.claimants[i];
        const target = p.targets[i % p.targets.length];
        let attempts = 0; // won or lost draws: what the limit counts (a refusal is none)
        for (let k = 1; k <= p.perMember && !p.signal.aborted; k++) {
          const key = `${p.keyPrefix}-${member}-${k}`;
          const first = await this.claim(target, member, key);
          if (first !== null && first.status < 300) attempts++;
          if (first !== null && k === 1 && p.sample.has(member)) await this.repeat(target, member, key, first);
        }
        if (p.sample.has(member) && attempts === p.perMember && !p.signal.aborted) await this.beyondLimit(target, member, `${p.keyPrefix}-${member}-beyond`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(p.concurrency, p.claimants.length)) }, worker));
  }

  private now(): number {
    return performance.now() - this.plan.t0;
  }

  private async claim(target: ClaimTarget, member: number, key: string): Promise<ClaimAnswer | null> {
    const t = this.plan.timeline;
    const sentMs = this.now();
    if (this.sent++ === 0) this.startMs = sentMs;
    t.count("offered", sentMs);
    try {
      const a = await postClaim(target, member, key);
      const at = this.now();
      t.count("acked", at);
      t.latency("claim", sentMs, at - sentMs);
      this.endMs = Number.isNaN(this.endMs) ? at : Math.max(this.endMs, at);
      this.answered++;
      this.transientRetries += a.retried;
      const label = statusLabel(a);
      this.byStatus[label] = (this.byStatus[label] ?? 0) + 1;
      if (a.won) {
        this.won++;
        this.wonBy.set(member, (this.wonBy.get(member) ?? 0) + 1);
      }
      return a;
    } catch (err) {
      t.count("errors", this.now());
      this.unanswered++;
      this.firstError ??= (err as Error).message;
      return null;
    }
  }

  private async repeat(target: ClaimTarget, member: number, key: string, first: ClaimAnswer): Promise<void> {
    this.repeats.sent++;
    try {
      const again = await postClaim(target, member, key);
      if (again.fingerprint === first.fingerprint) this.repeats.same++;
      else if (this.repeats.differing.length < DIFFERING_KEPT) this.repeats.differing.push({ member, first: first.fingerprint, again: again.fingerprint });
    } catch (err) {
      this.repeats.unanswered++;
      this.firstError ??= (err as Error).message;
    }
  }

  private async beyondLimit(target: ClaimTarget, member: number, key: string): Promise<void> {
    const into = this.beyond;
    into.sent++;
    try {
      const a = await postClaim(target, member, key);
      const label = statusLabel(a);
      into.byStatus[label] = (into.byStatus[label] ?? 0) + 1;
      if (a.won) this.wonBy.set(member, (this.wonBy.get(member) ?? 0) + 1); // a unit beyond the limit: the checks catch it
    } catch (err) {
      into.unanswered++;
      this.firstError ??= (err as Error).message;
    }
  }
}

/** "201 won", "200 lost", "410 sold_out", "409 already_claimed" … */
export function statusLabel(a: ClaimAnswer): string {
  if (a.status === 201) return "201 won";
  if (a.status === 200) return "200 lost";
  return `${a.status} ${a.code ?? "?"}`;
}
