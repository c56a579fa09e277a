// ClaimBook: one partition's claims, as its CLAIMS records say — rebuilt from them at start and
// advanced by each record the partition writes. Flash benefits touch a small share of the
// members, so this is Maps keyed by (benefit, member), not the partition's typed arrays.

import type { ClaimRecord } from "../../proto/claim-record.ts";

export interface MemberClaims {
  /** Won and lost draws (for a benefit without odds, every claim is a won draw). */
  attempts: number;
  wins: number;
}

export interface StoredAnswer {
  record: ClaimRecord;
  /** CLAIMS sequence of the record. */
  seq: number;
}

const NONE: MemberClaims = Object.freeze({ attempts: 0, wins: 0 });
const answerKey = (benefit: string, member: number, key: string): string => `${benefit}\n${member}\n${key}`;

export class ClaimBook {
  /** Benefit → member → claims; nested rather than a joined key, so that a check builds no string. */
  private readonly members = new Map<string, Map<number, MemberClaims>>();
  private readonly answers = new Map<string, StoredAnswer>();
  /** Units won in this partition, per benefit. */
  private readonly wonPerBenefit = new Map<string, number>();
  /** Last CLAIMS sequence of claims.<p>.<member>: the expected last subject sequence of its next record. */
  private readonly lastSubjectSeq = new Map<number, number>();
  /** Benefits whose won count moved since the last takeMoved(). */
  private readonly moved = new Set<string>();
  records = 0;

  constructor(readonly partition: number) {}

  apply(r: ClaimRecord, seq: number): void {
    const last = this.lastSubjectSeq.get(r.member) ?? 0;
    if (seq <= last) return; // seen already (a resync reads what the book may hold)
    this.lastSubjectSeq.set(r.member, seq);
    this.records++;
    this.answers.set(answerKey(r.benefit, r.member, r.key), { record: r, seq });
    if (r.outcome !== "won" && r.outcome !== "lost") return;
    let ofBenefit = this.members.get(r.benefit);
    if (ofBenefit === undefined) this.members.set(r.benefit, (ofBenefit = new Map()));
    const c = ofBenefit.get(r.member) ?? { attempts: 0, wins: 0 };
    c.attempts++;
    if (r.outcome === "won") {
      c.wins++;
      this.wonPerBenefit.set(r.benefit, (this.wonPerBenefit.get(r.benefit) ?? 0) + 1);
      this.moved.add(r.benefit);
    }
    ofBenefit.set(r.member, c);
  }

  claimsOf(benefit: string, member: number): MemberClaims {
    return this.members.get(benefit)?.get(member) ?? NONE;
  }

  answerFor(benefit: string, member: number, key: string): StoredAnswer | undefined {
    return this.answers.get(answerKey(benefit, member, key));
  }

  won(benefit: string): number {
    return this.wonPerBenefit.get(benefit) ?? 0;
  }

  /** The won counts that moved since the last call (what the partition announces), or null. */
  takeMoved(): Record<string, number> | null {
    if (this.moved.size === 0) return null;
    const out: Record<string, number> = {};
    for (const b of this.moved) out[b] = this.won(b);
    this.moved.clear();
    return out;
  }

  lastSeqOf(member: number): number {
    return this.lastSubjectSeq.get(member) ?? 0;
  }
}
