// The reference implementation of engine/README.md: plain objects and Maps, written straight
// from the rules text, used as the oracle the real engine is compared against. Nothing here
// is fast on purpose: the score is summed afresh every time it is read, months come from
// `Date`, and every rule is one visible `if`.
//
// How this file reads the places where the rules leave room (engine/README.md wins over
// shared/CONTRACT.md where it is more specific):
// - Dedup "applied": every valid order that passes the dedup check is "applied" and records
//   `seenAt` — also a paid order whose month is already outside the window, a refund for an
//   unknown member and an order that earns 0 points. Each of them "changed nothing", but
//   each went through steps 3–5 (and may have moved the clock).
// - An ignored duplicate does not refresh `seenAt` ("ignored entirely"): the horizon counts
//   from the last *applied* sighting, not from the last delivery.
// - Dedup keys are (id, kind) compared exactly; the engine's 64-bit hashes are assumed never
//   to collide.
// - The refund formula includes the per-order cap: a refund takes
//   min(orderPointsMax, floor(amount × milli / 100000)) ("the same formula").
// - A paid order's `orderTs` (valid but meaningless for it) is ignored: its month is
//   monthIndex(ts).
// - Step 5 (tier) runs for the event's member only, and only when that member exists after
//   step 4; a member that does not exist reads as bronze with score 0, so it could not change.
// - A member, once created, is held for good (members() lists it even when its points have
//   all expired or been refunded and it reads as bronze with score 0).
// - A rollover re-evaluates the members that exist when it happens, i.e. before the causing
//   event applies; each step m of a multi-month rollover uses the window m−(W−1) … m.
// - A rollover change carries the score at the last month N, even under `one-down` where
//   the tier it lands on can be above tierOf(score).
// - Message-level checks (`malformed`, `batch_too_large`) belong to the decoder, not to this
//   model: `apply` takes already-decoded items and judges each one on its own.

import type { Config } from "../../engine/config.ts";
import { partitionOf, TIERS, validateEvent, type BadInputCode, type Order, type Tier } from "../../proto/index.ts";

export interface RefMessage {
  seq: number;
  storedMs: number;
  /** Decoded plain objects, as validateEvent takes them. */
  items: unknown[];
}

export interface RefChange {
  member: number;
  from: Tier;
  to: Tier;
  score: number;
  ts: number;
  cause: string;
}

export interface RefMember {
  member: number;
  score: number;
  tier: Tier;
  /** Window points per line name; lines with 0 points are left out. */
  lines: Record<string, number>;
  /** monthIndex → window points; months with 0 points are left out. */
  months: Record<number, number>;
}

export interface RefDeadLetter {
  seq: number;
  item: number;
  code: BadInputCode;
}

const POINTS_DIVISOR = 100_000;

/** One member: its points per month and line, and its tier (an index into TIERS). */
interface MemberState {
  /** monthIndex → line name → points (never below 0). */
  cells: Map<number, Map<string, number>>;
  tier: number;
}

export class ReferencePartition {
  readonly #config: Config;
  readonly #partition: number;
  #clock = 0;
  readonly #members = new Map<number, MemberState>();
  /** kind → order id → seenAt (the clock right after the order was applied). */
  readonly #seen = new Map<string, Map<string, number>>([
    ["paid", new Map()],
    ["refund", new Map()],
  ]);

  constructor(config: Config, partition: number) {
    if (!Number.isInteger(partition) || partition < 0 || partition >= config.partitions) {
      throw new RangeError(`partition must be 0 … ${config.partitions - 1}, got ${partition}`);
    }
    this.#config = config;
    this.#partition = partition;
  }

  /** The partition clock: the largest ts applied (0 before any event). */
  get clock(): number {
    return this.#clock;
  }

  /** year × 12 + (month − 1) of the calendar month of `ts` at the configured UTC offset. */
  monthIndex(ts: number): number {
    const d = new Date(ts + this.#config.utcOffsetMs);
    const index = d.getUTCFullYear() * 12 + d.getUTCMonth();
    if (!Number.isFinite(index)) throw new RangeError(`ts ${ts} is outside the calendar`);
    return index;
  }

  /** The instant month `index` starts at the configured UTC offset. */
  monthStart(index: number): number {
    const year = Math.floor(index / 12);
    const month = index - year * 12;
    if (year < 100) throw new RangeError(`month index ${index} is before year 100`); // Date.UTC maps 0…99 to 19xx
    return Date.UTC(year, month, 1) - this.#config.utcOffsetMs;
  }

  apply(msg: RefMessage): { changes: RefChange[]; deadLetters: RefDeadLetter[] } {
    const changes: RefChange[] = [];
    const deadLetters: RefDeadLetter[] = [];
    msg.items.forEach((item, index) => {
      // 1. Validate.
      const validated = validateEvent(item, this.#config.lineNames);
      if (!validated.ok) {
        deadLetters.push({ seq: msg.seq, item: index, code: validated.error.code });
        return;
      }
      const event = validated.value;
      if (event.ts > msg.storedMs + this.#config.futureSkewMs) {
        deadLetters.push({ seq: msg.seq, item: index, code: "ts_in_future" });
        return;
      }
      if (event.kind === "tick") {
        // 6. A tick does step 3 only.
        this.#advanceClock(event.ts, changes);
        return;
      }
      if (partitionOf(event.member, this.#config.partitions) !== this.#partition) {
        deadLetters.push({ seq: msg.seq, item: index, code: "wrong_partition" });
        return;
      }
      // 2. Dedup.
      const seenOfKind = this.#seen.get(event.kind)!;
      const now = Math.max(this.#clock, event.ts);
      const seenAt = seenOfKind.get(event.id);
      if (seenAt !== undefined && now - seenAt < this.#config.dedupHorizonMs) return;
      // 3. Clock and rollover.
      this.#advanceClock(event.ts, changes);
      // 4. and 5. Apply, then the tier.
      this.#applyOrder(event, changes);
      seenOfKind.set(event.id, this.#clock);
    });
    return { changes, deadLetters };
  }

  member(id: number): RefMember {
    const state = this.#members.get(id);
    if (state === undefined) return { member: id, score: 0, tier: "bronze", lines: {}, months: {} };
    const current = this.monthIndex(this.#clock);
    const lines: Record<string, number> = {};
    const months: Record<number, number> = {};
    for (const [month, cellsOfMonth] of state.cells) {
      if (!this.#inWindow(month, current)) continue;
      for (const [line, points] of cellsOfMonth) {
        if (points === 0) continue;
        lines[line] = (lines[line] ?? 0) + points;
        months[month] = (months[month] ?? 0) + points;
      }
    }
    return { member: id, score: this.#score(state, current), tier: TIERS[state.tier], lines, months };
  }

  /** Every member the partition holds, sorted by id. */
  members(): RefMember[] {
    return this.#memberIds().map((id) => this.member(id));
  }

  #memberIds(): number[] {
    return [...this.#members.keys()].sort((a, b) => a - b);
  }

  /** Window of month `current`: current − (windowMonths − 1) … current. */
  #inWindow(month: number, current: number): boolean {
    return month >= current - (this.#config.windowMonths - 1) && month <= current;
  }

  /** The sum of the member's cells in the window of month `current`. */
  #score(state: MemberState, current: number): number {
    let score = 0;
    for (const [month, cellsOfMonth] of state.cells) {
      if (!this.#inWindow(month, current)) continue;
      for (const points of cellsOfMonth.values()) score += points;
    }
    return score;
  }

  /** The highest tier whose minimum ≤ score. */
  #tierOf(score: number): number {
    let tier = 0;
    for (let t = 0; t < TIERS.length; t++) {
      if (this.#config.ladder[t] <= score) tier = t;
    }
    return tier;
  }

  #points(order: Order): number {
    const milli = this.#config.lineMilli[this.#config.lineNames.indexOf(order.line)];
    return Math.min(this.#config.orderPointsMax, Math.floor((order.amount * milli) / POINTS_DIVISOR));
  }

  /** Step 3: roll over to the month of `ts` if it is later than the clock's, then move the clock. */
  #advanceClock(ts: number, changes: RefChange[]): void {
    const current = this.monthIndex(this.#clock);
    const next = this.monthIndex(ts);
    if (next > current) this.#rollover(current, next, changes);
    this.#clock = Math.max(this.#clock, ts);
  }

  /** Re-evaluates every member at each month start current+1 … next; one change per member. */
  #rollover(current: number, next: number, changes: RefChange[]): void {
    for (const id of this.#memberIds()) {
      const state = this.#members.get(id)!;
      const before = state.tier;
      let tier = before;
      for (let month = current + 1; month <= next; month++) {
        const scoreTier = this.#tierOf(this.#score(state, month));
        tier = this.#config.policy === "one-down" ? Math.max(scoreTier, tier - 1) : scoreTier;
      }
      state.tier = tier;
      if (tier !== before) {
        changes.push({
          member: id,
          from: TIERS[before],
          to: TIERS[tier],
          score: this.#score(state, next),
          ts: this.monthStart(next),
          cause: "rollover",
        });
      }
    }
  }

  /** Steps 4 and 5 for a valid, non-duplicate order, after the clock has moved. */
  #applyOrder(order: Order, changes: RefChange[]): void {
    const current = this.monthIndex(this.#clock);
    const points = this.#points(order);
    if (order.kind === "paid") {
      const month = this.monthIndex(order.ts);
      if (month < current - (this.#config.windowMonths - 1)) return; // late, outside the window
      if (points > 0) this.#addPoints(order.member, month, order.line, points);
    } else {
      const month = this.monthIndex(order.orderTs ?? order.ts);
      if (month < current - (this.#config.windowMonths - 1)) return; // the order's month has left
      const state = this.#members.get(order.member);
      if (state !== undefined) this.#takePoints(state, month, order.line, points);
    }
    const state = this.#members.get(order.member);
    if (state === undefined) return; // a refund or a 0-point order for an unknown member
    const score = this.#score(state, current);
    const scoreTier = this.#tierOf(score);
    const upgrade = scoreTier > state.tier;
    const downgrade = this.#config.policy === "immediate" && scoreTier < state.tier;
    if (upgrade || downgrade) {
      changes.push({ member: order.member, from: TIERS[state.tier], to: TIERS[scoreTier], score, ts: order.ts, cause: order.id });
      state.tier = scoreTier;
    }
  }

  #addPoints(member: number, month: number, line: string, points: number): void {
    let state = this.#members.get(member);
    if (state === undefined) {
      state = { cells: new Map(), tier: 0 };
      this.#members.set(member, state);
    }
    let cellsOfMonth = state.cells.get(month);
    if (cellsOfMonth === undefined) {
      cellsOfMonth = new Map();
      state.cells.set(month, cellsOfMonth);
    }
    cellsOfMonth.set(line, (cellsOfMonth.get(line) ?? 0) + points);
  }

  /** Takes `points` from (month, line), then from the month's other lines in configured order. */
  #takePoints(state: MemberState, month: number, line: string, points: number): void {
    const cellsOfMonth = state.cells.get(month);
    if (cellsOfMonth === undefined) return;
    let left = points;
    const order = [line, ...this.#config.lineNames.filter((l) => l !== line)];
    for (const l of order) {
      if (left === 0) break;
      const have = cellsOfMonth.get(l) ?? 0;
      const take = Math.min(have, left);
      if (have > 0) cellsOfMonth.set(l, have - take);
      left -= take;
    }
  }
}
