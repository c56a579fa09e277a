// ClaimDesk: one partition's eligibility answers and claims.
//
// A claim is decided and stored before it is answered:
//   1. claims of one member run one at a time (a per-member chain), so a member's limit and
//      attempt numbers are decided on what that member's earlier claims stored;
//   2. an Idempotency-Key seen before gets the stored answer, whatever has changed since;
//   3. eligibility (benefit known, window open, tier, the member's claims), the draw — a pure
//      function of (benefit, member, attempt) — and a unit of this partition's allotment;
//   4. the record goes to claims.<p>.<member> with Nats-Msg-Id and the member subject's
//      expected last sequence (a second writer of the partition cannot slip a record in
//      between), and the answer goes out once JetStream acknowledged it.
// A publish whose outcome is unknown (timeout) leaves its unit reserved — stranded, never
// reused — and the member is re-read from CLAIMS before its next claim.

import type { JetStreamClient } from "@nats-io/jetstream";
import type { AckedPublisher } from "../acked-publisher.ts";
import { wireHeaders } from "../../proto/wire-headers.ts";
import {
  type Benefit,
  type ClaimAnswer,
  CLAIM_REFUSAL_STATUS,
  type Eligibility,
  drawWon,
  type EligibilityReason,
  oddsFor,
  remainingOf,
  tierAtLeast,
  windowReason,
} from "../../proto/benefit.ts";
import type { BenefitCatalog } from "../../proto/benefit-catalog.ts";
import { type ClaimOutcome, type ClaimRecord, encodeClaimRecord, parseClaimRecord } from "../../proto/claim-record.ts";
import type { ClaimTally } from "../../proto/claim-tally.ts";
import { claimsPartitionFilter, claimsSubject, STREAM_CLAIMS } from "../../proto/names.ts";
import { readSubject } from "../../proto/read-subject.ts";
import { TIERS, type Tier } from "../../proto/types.ts";
import { RequestError } from "../request-error.ts";
import type { PartitionState } from "../state/partition-state.ts";
import { Allotment } from "./allotment.ts";
import { ClaimBook, type StoredAnswer } from "./claim-book.ts";
import type { InventoryPool } from "./inventory-pool.ts";

export interface ClaimRequest {
  benefit: string;
  member: number;
  key: string;
  /** The client sent the key: refusals are stored too, so they survive a crash. */
  keyFromClient: boolean;
}

export interface DeskDeps {
  partition: number;
  partitions: number;
  /** The partition's member state (tiers); null while it replays. */
  state: () => PartitionState | null;
  catalog: BenefitCatalog;
  tally: ClaimTally;
  pool: InventoryPool;
  js: JetStreamClient;
  /** The engine's publisher of acknowledged JetStream messages (claim records go through it). */
  publisher: AckedPublisher;
  now: () => number;
  /** Asks every engine to return unused units of `benefit` to the pool. */
  requestRelease: (benefit: string) => void;
}

const STATUS_WON = 201;
const STATUS_LOST = 200;

export class ClaimDesk {
  readonly book: ClaimBook;
  private readonly allotments = new Map<string, Allotment>();
  /** The tail of each member's chain of claims. */
  private readonly chains = new Map<number, Promise<unknown>>();
  /** Members whose last publish has an unknown outcome: re-read from CLAIMS first. */
  private readonly dirty = new Set<number>();
  ready = false;
  strandedUnits = 0;

  constructor(private readonly deps: DeskDeps) {
    this.book = new ClaimBook(deps.partition);
  }

  /** Rebuilds the book from the partition's CLAIMS records. */
  async load(lastSeq: number): Promise<void> {
    for await (const m of readSubject(this.deps.js, STREAM_CLAIMS, claimsPartitionFilter(this.deps.partition), lastSeq)) {
      const r = parseClaimRecord(m.data);
      if (r !== null) this.book.apply(r, m.seq);
    }
    this.ready = true;
  }

  eligibility(benefitId: string, member: number): Eligibility {
    const state = this.readyState();
    const tierIndex = state.memberTier(member);
    const tier = TIERS[tierIndex];
    const b = this.deps.catalog.get(benefitId);
    if (!b) return { member, benefit: benefitId, eligible: false, reason: "unknown_benefit", tier, remaining: null };
    const remaining = remainingOf(b, this.deps.tally.claimed(b.id));
    const reason = this.refusal(b, member, tierIndex, remaining) ?? "ok";
    return { member, benefit: b.id, eligible: reason === "ok", reason, tier, remaining };
  }

  /**
   * Only the reason of `eligibility` (allocates nothing: the request lane's batches ask it for
   * every member of a campaign's audience), or null while the partition replays its log.
   */
  reasonOf(benefitId: string, member: number): EligibilityReason | null {
    const state = this.deps.state();
    if (state === null || !this.ready) return null;
    const b = this.deps.catalog.get(benefitId);
    if (!b) return "unknown_benefit";
    return this.refusal(b, member, state.memberTier(member), remainingOf(b, this.deps.tally.claimed(b.id))) ?? "ok";
  }

  claim(req: ClaimRequest): Promise<ClaimAnswer> {
    const tail = this.chains.get(req.member) ?? Promise.resolve();
    const run = tail.then(
      () => this.decide(req),
      () => this.decide(req),
    );
    const settled = run.catch(() => {});
    this.chains.set(req.member, settled);
    void settled.then(() => {
      if (this.chains.get(req.member) === settled) this.chains.delete(req.member);
    });
    return run;
  }

  /**
   * This partition's unused units of `benefit`, for the engine's batched give-back
   * (Allotment.takeForGiveBack) — also where no claim has asked yet: seeded units would
   * otherwise sit there to the end of the drop. Not before the partition's claims are loaded
   * (what it won decides what is unused).
   */
  takeForGiveBack(benefitId: string): ReturnType<Allotment["takeForGiveBack"]> {
    if (!this.ready) return null;
    const b = this.deps.catalog.get(benefitId);
    const a = b !== undefined && b.inventory !== null ? this.allotmentOf(b) : this.allotments.get(benefitId);
    return a?.takeForGiveBack() ?? null;
  }

  private readyState(): PartitionState {
    const state = this.deps.state();
    if (state === null || !this.ready) throw new RequestError(503, "not_ready", `partition ${this.deps.partition} is still replaying its log`);
    return state;
  }

  private refusal(b: Benefit, member: number, tierIndex: number, remaining: number | null): Exclude<EligibilityReason, "ok"> | null {
    const window = windowReason(b, this.deps.now());
    if (window !== "ok") return window;
    if (!tierAtLeast(tierIndex, b.minTier)) return "tier_too_low";
    if (this.book.claimsOf(b.id, member).attempts >= b.perMember) return "already_claimed";
    if (remaining === 0) return "sold_out";
    return null;
  }

  private async decide(req: ClaimRequest): Promise<ClaimAnswer> {
    const state = this.readyState();
    const stored = this.book.answerFor(req.benefit, req.member, req.key);
    if (stored) return this.answerOf(stored);
    if (this.dirty.has(req.member)) {
      await this.resync(req.member);
      const again = this.book.answerFor(req.benefit, req.member, req.key);
      if (again) return this.answerOf(again);
    }
    const tierIndex = state.memberTier(req.member);
    const tier = TIERS[tierIndex];
    const b = this.deps.catalog.get(req.benefit);
    const refuse = (reason: Exclude<EligibilityReason, "ok">) => this.refuse(req, reason, tier);
    if (!b) return refuse("unknown_benefit");
    const refusal = this.refusal(b, req.member, tierIndex, remainingOf(b, this.deps.tally.claimed(b.id)));
    if (refusal) return refuse(refusal);

    const attempt = this.book.claimsOf(b.id, req.member).attempts + 1;
    const won = drawWon(b.id, req.member, attempt, oddsFor(b, tier));
    const allotment = won && b.inventory !== null ? this.allotmentOf(b) : null;
    if (allotment && !(await allotment.reserve(b))) return refuse("sold_out");
    const record: ClaimRecord = { benefit: b.id, member: req.member, key: req.key, outcome: won ? "won" : "lost", attempt, tier, at: this.deps.now() };
    const result = await this.store(record);
    if (allotment) {
      if (result === "stored") allotment.settle();
      else if (result === "refused") allotment.unreserve();
      else this.strandedUnits++; // unknown: the unit stays reserved, never to be reused
    }
    const answer = this.book.answerFor(record.benefit, record.member, record.key);
    if (result !== "stored" || !answer) {
      throw new RequestError(503, "claim_not_stored", `the claim record was not acknowledged by ${STREAM_CLAIMS}; retry with the same Idempotency-Key`);
    }
    return this.answerOf(answer);
  }

  /** A refusal, stored first when the client's key must keep getting it. */
  private async refuse(req: ClaimRequest, reason: Exclude<EligibilityReason, "ok">, tier: Tier): Promise<never> {
    if (req.keyFromClient) {
      const record: ClaimRecord = { benefit: req.benefit, member: req.member, key: req.key, outcome: reason, attempt: 0, tier, at: this.deps.now() };
      if ((await this.store(record)) !== "stored") {
        throw new RequestError(503, "claim_not_stored", `the answer was not acknowledged by ${STREAM_CLAIMS}; retry with the same Idempotency-Key`);
      }
    }
    throw refusalError(reason, req.benefit);
  }

  private answerOf({ record, seq }: StoredAnswer): ClaimAnswer {
    if (record.outcome !== "won" && record.outcome !== "lost") throw refusalError(record.outcome, record.benefit);
    const b = this.deps.catalog.get(record.benefit);
    return {
      benefit: record.benefit,
      member: record.member,
      won: record.outcome === "won",
      attempt: record.attempt,
      tier: record.tier,
      seq,
      at: record.at,
      remaining: b ? remainingOf(b, Math.max(this.deps.tally.claimed(b.id), this.book.won(b.id))) : null,
    };
  }

  /** "stored" (acknowledged), "refused" (certainly not stored), or "unknown". */
  private store(record: ClaimRecord): Promise<"stored" | "refused" | "unknown"> {
    // Printed once as bytes (proto/wire-headers.ts), as the tier-change publishes are, rather
    // than through nats.js's headers(), which trimmed the key. (The profiler put headers() at
    // ~9 % of the engine in a storm, but CPU per claim did not move measurably.) The key
    // cannot hold a line break (claimRequestOf refuses one).
    const h = wireHeaders([
      ["Nats-Msg-Id", `claim:${record.benefit}:${record.member}:${record.key}`],
      ["Nats-Expected-Last-Subject-Sequence", String(this.book.lastSeqOf(record.member))],
    ]);
    // Through the engine's AckedPublisher (one reply inbox for every PubAck), not js.publish: no
    // request object, timer and subscription mapping per claim.
    return new Promise((resolve) => {
      this.deps.publisher.send(
        claimsSubject(this.deps.partition, record.member),
        encodeClaimRecord(record),
        h,
        (seq) => {
          this.book.apply(record, seq);
          resolve("stored");
        },
        (err) => {
          this.dirty.add(record.member);
          // 10071 "wrong last sequence": another record of this member was stored first (a
          // second owner) — certainly not ours. Anything else (a timeout) may have been stored.
          resolve(/10071|wrong last sequence/i.test(err.message) ? "refused" : "unknown");
        },
      );
    });
  }

  /** Reads the member's records back from CLAIMS (after a publish with an unknown outcome). */
  private async resync(member: number): Promise<void> {
    const subject = claimsSubject(this.deps.partition, member);
    const { js } = this.deps;
    const jsm = await js.jetstreamManager();
    const last = (await jsm.streams.info(STREAM_CLAIMS)).state.last_seq;
    for await (const m of readSubject(js, STREAM_CLAIMS, subject, last)) {
      const r = parseClaimRecord(m.data);
      if (r !== null) this.book.apply(r, m.seq);
    }
    this.dirty.delete(member);
  }

  private allotmentOf(b: Benefit): Allotment {
    let a = this.allotments.get(b.id);
    if (!a) {
      a = new Allotment({
        benefit: b.id,
        partition: this.deps.partition,
        partitions: this.deps.partitions,
        pool: this.deps.pool,
        used: () => this.book.won(b.id),
        soldOut: (def) => def.inventory !== null && this.deps.tally.claimed(def.id) >= def.inventory,
        requestRelease: () => this.deps.requestRelease(b.id),
      });
      this.allotments.set(b.id, a);
    }
    return a;
  }
}

export function refusalError(reason: Exclude<EligibilityReason, "ok">, benefit: string): RequestError {
  const messages: Record<Exclude<EligibilityReason, "ok">, string> = {
    tier_too_low: `the member's tier is below what ${benefit} asks for`,
    not_started: `${benefit} has not started`,
    ended: `${benefit} has ended`,
    already_claimed: `the member has used every claim ${benefit} allows`,
    sold_out: `${benefit} is sold out`,
    unknown_benefit: `no benefit "${benefit}"`,
  };
  return new RequestError(CLAIM_REFUSAL_STATUS[reason], reason, messages[reason]);
}

export const claimStatus = (a: ClaimAnswer): number => (a.won ? STATUS_WON : STATUS_LOST);
export type { ClaimAnswer, ClaimOutcome, Eligibility };
