// PartitionState: every member of one partition, and the rules that move them.
//
// Struct of arrays: member i is ids[i], score[i], tier[i] and a block of (month, line) cells in
// the CellArena; an open-addressing index maps member id → i. No object or Map per member.
// Everything here is a pure function of the events applied, in order (see engine/README.md).

import { memberHash32 } from "../../proto/partition.ts";
import { fmix32 } from "../../proto/partition.ts";
import { ITEM_PAID, ITEM_REFUND } from "../../proto/reader.ts";
import { TIER_COUNT } from "../../proto/types.ts";
import { monthIndexOf, monthStartMs } from "../calendar.ts";
import type { Config } from "../config.ts";
import { CellArena, CLASS_MAX, cellKey, cellLine, cellMonth } from "./cell-arena.ts";
import { DedupHorizon } from "./dedup-horizon.ts";
import type { ScoreSink } from "../score-feed.ts";
import type { OrderChunk } from "../order-chunk.ts";

const EMPTY = -1;
const U32_MAX = 0xffffffff;
const INDEX_LOAD_MAX = 0.7;

/** What applyOrder did with an order. */
export const APPLIED = 0;
export const DUPLICATE = 1;

/** One tier change, as the state produced it (the runner adds the cause id and publishes it). */
export interface StateChange {
  member: number;
  from: number;
  to: number;
  score: number;
  ts: number;
  rollover: boolean;
  /** The causing order's id, or "rollover"; filled in by applyMessage, which knows the id. */
  cause: string;
}

export class PartitionState {
  // Members, struct of arrays. Capacity grows ×1.5.
  ids: Float64Array;
  score: Uint32Array;
  tier: Uint8Array;
  cellStart: Uint32Array;
  cellCount: Uint16Array;
  cellClass: Uint8Array;
  memberCount = 0;

  private index: Int32Array;
  private indexMask: number;
  cells: CellArena;
  dedup: DedupHorizon;

  /** Largest ts applied (orders and ticks); 0 before the first event. */
  clock = 0;
  /** monthIndex(clock) and the instants where that month starts and ends. */
  clockMonth: number;
  private monthStart: number;
  private monthEnd: number;

  /** Told of every score change (live score ticks); not part of the state. */
  scoreSink: ScoreSink | null = null;

  /** Changes produced since the last takeChanges(), in order. */
  private changes: StateChange[] = [];

  private readonly windowMonths: number;
  private readonly utcOffsetMs: number;
  private readonly ladder: Float64Array;
  private readonly lineMilli: Int32Array;
  private readonly orderPointsMax: number;
  private readonly policy: Config["policy"];

  constructor(
    readonly config: Config,
    readonly partition: number,
    membersCapacity = 1024,
  ) {
    this.windowMonths = config.windowMonths;
    this.utcOffsetMs = config.utcOffsetMs;
    this.ladder = config.ladder;
    this.lineMilli = config.lineMilli;
    this.orderPointsMax = config.orderPointsMax;
    this.policy = config.policy;
    this.ids = new Float64Array(membersCapacity);
    this.score = new Uint32Array(membersCapacity);
    this.tier = new Uint8Array(membersCapacity);
    this.cellStart = new Uint32Array(membersCapacity);
    this.cellCount = new Uint16Array(membersCapacity);
    this.cellClass = new Uint8Array(membersCapacity);
    const slots = indexSlotsFor(membersCapacity);
    this.index = new Int32Array(slots).fill(EMPTY);
    this.indexMask = slots - 1;
    this.cells = new CellArena(membersCapacity * 2);
    this.dedup = new DedupHorizon(config.dedupHorizonMs);
    this.clockMonth = monthIndexOf(0, this.utcOffsetMs);
    this.monthStart = monthStartMs(this.clockMonth, this.utcOffsetMs);
    this.monthEnd = monthStartMs(this.clockMonth + 1, this.utcOffsetMs);
  }

  // ---- events -------------------------------------------------------------------------------

  /**
   * Applies one valid order (validated by the caller). Returns DUPLICATE when the (id, kind)
   * fingerprint was applied within the dedup horizon (then nothing changed), else APPLIED.
   */
  applyOrder(
    kind: number,
    member: number,
    /** memberHash32(member), which the caller computed for the partition check already. */
    memberHash: number,
    line: number,
    amount: number,
    ts: number,
    orderTs: number,
    fpHi: number,
    fpLo: number,
  ): number {
    const now = ts > this.clock ? ts : this.clock;
    this.dedup.expire(now);
    // seenAt is the clock after this order applies, which is `now`.
    if (!this.dedup.addIfAbsent(fpHi, fpLo, now)) return DUPLICATE;
    this.advanceClock(ts);

    const milli = this.lineMilli[line];
    let points = Math.floor((amount * milli) / 100000);
    if (points > this.orderPointsMax) points = this.orderPointsMax;
    if (points === 0) return APPLIED;
    const windowStart = this.clockMonth - this.windowMonths + 1;
    if (kind === ITEM_PAID) {
      const month = this.monthOf(ts);
      if (month < windowStart) return APPLIED; // a late event older than the window
      const i = this.memberIndexOrCreate(member, memberHash);
      const before = this.score[i];
      this.addPoints(i, month, line, points);
      this.tierAfterEvent(i, ts);
      if (this.scoreSink !== null) this.scoreSink.touched(member, this.score[i], this.score[i] - before, line, ts);
    } else {
      if (kind !== ITEM_REFUND) console.assert(false, "order kind is paid or refund"); // inline: see CellArena.alloc
      const month = this.monthOf(orderTs >= 0 ? orderTs : ts);
      if (month < windowStart) return APPLIED;
      const i = this.indexOf(member, slotHashOf(memberHash));
      if (i === EMPTY) return APPLIED;
      const before = this.score[i];
      this.takePoints(i, month, line, points);
      this.tierAfterEvent(i, ts);
      if (this.scoreSink !== null && this.score[i] !== before) {
        this.scoreSink.touched(member, this.score[i], this.score[i] - before, line, ts);
      }
    }
    return APPLIED;
  }

  /**
   * Reads, and changes nothing: touches the index slots, member fields, newest cells and dedup
   * slots that applying the chunk's orders will read, so that their cache misses overlap.
   * Applying then finds them in cache. Returns a sum of what it read, so no load is dropped.
   */
  warm(chunk: OrderChunk): number {
    const n = chunk.length;
    const members = chunk.member;
    const hashes = chunk.memberHash;
    const found = chunk.found;
    const index = this.index;
    const mask = this.indexMask;
    let sum = 0;
    for (let k = 0; k < n; k++) found[k] = index[slotHashOf(hashes[k]) & mask];
    sum += this.dedup.warm(chunk.fingerprintHi, chunk.fingerprintLo, n);
    const ids = this.ids;
    const score = this.score;
    const tier = this.tier;
    const cellStart = this.cellStart;
    const cellCount = this.cellCount;
    for (let k = 0; k < n; k++) {
      const i = found[k];
      if (i >= 0) sum += ids[i] + score[i] + tier[i] + cellStart[i] + cellCount[i];
    }
    const keys = this.cells.keys;
    const points = this.cells.points;
    for (let k = 0; k < n; k++) {
      const i = found[k];
      if (i >= 0 && ids[i] === members[k] && cellCount[i] > 0) {
        const c = cellStart[i] + cellCount[i] - 1;
        sum += keys[c] + points[c];
      }
    }
    return sum;
  }

  /** Moves the clock (ticks and orders alike); a new month re-evaluates every member first. */
  advanceClock(ts: number): void {
    if (ts <= this.clock) return;
    if (ts >= this.monthEnd) this.rollover(monthIndexOf(ts, this.utcOffsetMs));
    this.clock = ts;
  }

  /** The tier changes produced since the last call, in order. */
  takeChanges(): StateChange[] {
    const out = this.changes;
    if (out.length > 0) this.changes = [];
    return out;
  }

  get pendingChanges(): number {
    return this.changes.length;
  }

  // ---- rules --------------------------------------------------------------------------------

  tierOf(score: number): number {
    const ladder = this.ladder;
    let t = TIER_COUNT - 1;
    while (score < ladder[t]) t--;
    return t;
  }

  private tierAfterEvent(i: number, ts: number): void {
    const from = this.tier[i];
    const scoreTier = this.tierOf(this.score[i]);
    if (scoreTier > from || (scoreTier < from && this.policy === "immediate")) {
      this.tier[i] = scoreTier;
      this.changes.push({ member: this.ids[i], from, to: scoreTier, score: this.score[i], ts, rollover: false, cause: "" });
    }
  }

  private monthOf(ts: number): number {
    return ts >= this.monthStart && ts < this.monthEnd ? this.clockMonth : monthIndexOf(ts, this.utcOffsetMs);
  }

  /** Re-evaluates every member at each month start from clockMonth+1 to newMonth. */
  private rollover(newMonth: number): void {
    const oldMonth = this.clockMonth;
    console.assert(newMonth > oldMonth, "rollover goes forward");
    this.clockMonth = newMonth;
    this.monthStart = monthStartMs(newMonth, this.utcOffsetMs);
    this.monthEnd = monthStartMs(newMonth + 1, this.utcOffsetMs);
    const windowStart = newMonth - this.windowMonths + 1;
    const ts = this.monthStart;
    const changed: StateChange[] = [];
    for (let i = 0; i < this.memberCount; i++) {
      const from = this.tier[i];
      // one-down reads the score at each month start passed, so it looks before cells go.
      const oneDown = this.policy === "one-down" ? this.oneDownAcross(i, from, oldMonth, newMonth) : -1;
      this.dropCellsBefore(i, windowStart);
      const score = this.sumCellsFrom(i, windowStart);
      this.score[i] = score;
      const to = oneDown >= 0 ? oneDown : this.tierOf(score);
      if (to !== from) {
        this.tier[i] = to;
        changed.push({ member: this.ids[i], from, to, score, ts, rollover: true, cause: "rollover" });
      }
    }
    // Ascending member id: an order that does not depend on how the hash laid members out.
    changed.sort((a, b) => a.member - b.member);
    for (const c of changed) this.changes.push(c);
  }

  /**
   * Soft landing: at each month start m in (oldMonth, newMonth] the tier drops at most one step,
   * and to no lower than the tier of the score at m (window m−W+1 … m).
   */
  private oneDownAcross(i: number, from: number, oldMonth: number, newMonth: number): number {
    let tier = from;
    const steps = newMonth - oldMonth;
    const stepsWithPoints = Math.min(steps, this.windowMonths);
    for (let s = 1; s <= stepsWithPoints; s++) {
      const score = this.sumCellsFrom(i, oldMonth + s - this.windowMonths + 1);
      tier = Math.max(this.tierOf(score), tier - 1);
    }
    // After windowMonths steps every cell (all ≤ oldMonth) has left the window: score 0.
    return Math.max(0, tier - (steps - stepsWithPoints));
  }

  // ---- cells --------------------------------------------------------------------------------

  private addPoints(i: number, month: number, line: number, points: number): void {
    const key = cellKey(month, line);
    const keys = this.cells.keys;
    const start = this.cellStart[i];
    const n = this.cellCount[i];
    // Newest cells sit at the end (appended as months arrive): search from there.
    for (let c = start + n - 1; c >= start; c--) {
      if (keys[c] === key) {
        this.cells.points[c] = saturatingAdd(this.cells.points[c], points);
        this.score[i] = saturatingAdd(this.score[i], points);
        return;
      }
    }
    const c = this.appendCell(i);
    this.cells.keys[c] = key;
    this.cells.points[c] = points;
    this.score[i] = saturatingAdd(this.score[i], points);
  }

  /** Takes up to `points` from (month, line), then from month's other lines in line order. */
  private takePoints(i: number, month: number, line: number, points: number): void {
    const keys = this.cells.keys;
    const pts = this.cells.points;
    const start = this.cellStart[i];
    const end = start + this.cellCount[i];
    let left = points;
    const own = cellKey(month, line);
    for (let c = start; c < end && left > 0; c++) {
      if (keys[c] === own) left -= take(pts, c, left);
    }
    for (let l = 0; l < this.lineMilli.length && left > 0; l++) {
      if (l === line) continue;
      const key = cellKey(month, l);
      for (let c = start; c < end; c++) {
        if (keys[c] === key) {
          left -= take(pts, c, left);
          break;
        }
      }
    }
    this.score[i] -= points - left;
  }

  /** Slot for one more cell of member i, growing its block (or compacting it) as needed. */
  private appendCell(i: number): number {
    let n = this.cellCount[i];
    let cls = this.cellClass[i];
    if (n === 0 && this.cellStart[i] === U32_MAX) {
      this.cellStart[i] = this.cells.alloc(0);
      this.cellClass[i] = 0;
      this.cellCount[i] = 1;
      return this.cellStart[i];
    }
    if (n === 1 << cls) {
      // Full: first reclaim cells that left the window, then move to a bigger block.
      this.dropCellsBefore(i, this.clockMonth - this.windowMonths + 1);
      n = this.cellCount[i];
      if (n === 1 << cls) {
        if (cls >= CLASS_MAX) console.assert(false, "a member holds at most 4096 cells"); // inline: see CellArena.alloc
        const from = this.cellStart[i];
        const to = this.cells.alloc(cls + 1);
        this.cells.keys.copyWithin(to, from, from + n);
        this.cells.points.copyWithin(to, from, from + n);
        this.cells.free(from, cls);
        this.cellStart[i] = to;
        this.cellClass[i] = cls + 1;
        cls++;
      }
    }
    this.cellCount[i] = n + 1;
    return this.cellStart[i] + n;
  }

  /** Removes the member's cells of months before `windowStart` (order of cells not kept). */
  private dropCellsBefore(i: number, windowStart: number): void {
    const keys = this.cells.keys;
    const pts = this.cells.points;
    const start = this.cellStart[i];
    let n = this.cellCount[i];
    for (let c = start; c < start + n; ) {
      if (cellMonth(keys[c]) < windowStart || pts[c] === 0) {
        n--;
        keys[c] = keys[start + n];
        pts[c] = pts[start + n];
      } else {
        c++;
      }
    }
    this.cellCount[i] = n;
  }

  private sumCellsFrom(i: number, windowStart: number): number {
    const keys = this.cells.keys;
    const pts = this.cells.points;
    const start = this.cellStart[i];
    let sum = 0;
    for (let c = start; c < start + this.cellCount[i]; c++) {
      if (cellMonth(keys[c]) >= windowStart) sum = saturatingAdd(sum, pts[c]);
    }
    return sum;
  }

  // ---- members ------------------------------------------------------------------------------

  memberIndex(member: number): number {
    return this.indexOf(member, slotHash(member));
  }

  private indexOf(member: number, slotHash: number): number {
    const mask = this.indexMask;
    for (let s = slotHash & mask; ; s = (s + 1) & mask) {
      const i = this.index[s];
      if (i === EMPTY || this.ids[i] === member) return i;
    }
  }

  /** The member's tier index (bronze, 0, for one never seen). */
  memberTier(member: number): number {
    const i = this.memberIndex(member);
    return i < 0 ? 0 : this.tier[i];
  }

  private memberIndexOrCreate(member: number, memberHash: number): number {
    const mask = this.indexMask;
    let s = slotHashOf(memberHash) & mask;
    for (; ; s = (s + 1) & mask) {
      const i = this.index[s];
      if (i === EMPTY) break;
      if (this.ids[i] === member) return i;
    }
    if (this.memberCount === this.ids.length) this.growMembers();
    const i = this.memberCount++;
    this.ids[i] = member;
    this.score[i] = 0;
    this.tier[i] = 0;
    this.cellStart[i] = U32_MAX; // no block yet
    this.cellCount[i] = 0;
    this.cellClass[i] = 0;
    if (this.memberCount > (this.indexMask + 1) * INDEX_LOAD_MAX) this.rebuildIndex(indexSlotsFor(this.memberCount * 2));
    else this.index[s] = i;
    return i;
  }

  private growMembers(): void {
    const capacity = Math.ceil(this.ids.length * 1.5) + 16;
    this.ids = resized(this.ids, capacity);
    this.score = resized(this.score, capacity);
    this.tier = resized(this.tier, capacity);
    this.cellStart = resized(this.cellStart, capacity);
    this.cellCount = resized(this.cellCount, capacity);
    this.cellClass = resized(this.cellClass, capacity);
  }

  private rebuildIndex(slots: number): void {
    this.index = new Int32Array(slots).fill(EMPTY);
    this.indexMask = slots - 1;
    for (let i = 0; i < this.memberCount; i++) {
      let s = slotHash(this.ids[i]) & this.indexMask;
      while (this.index[s] !== EMPTY) s = (s + 1) & this.indexMask;
      this.index[s] = i;
    }
  }

  // ---- reads --------------------------------------------------------------------------------

  /** The (month, line, points) cells of a member inside the current window. */
  cellsOf(member: number): { month: number; line: number; points: number }[] {
    const i = this.memberIndex(member);
    if (i === EMPTY) return [];
    const out: { month: number; line: number; points: number }[] = [];
    const windowStart = this.clockMonth - this.windowMonths + 1;
    const start = this.cellStart[i];
    for (let c = start; c < start + this.cellCount[i]; c++) {
      const key = this.cells.keys[c];
      const points = this.cells.points[c];
      if (cellMonth(key) >= windowStart && points > 0) out.push({ month: cellMonth(key), line: cellLine(key), points });
    }
    return out;
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /** Views of everything that makes this state (no copies; serialise before applying more). */
  exportParts() {
    const n = this.memberCount;
    const dedup = this.dedup.exportArrays();
    return {
      clock: this.clock,
      memberCount: n,
      ids: this.ids.subarray(0, n),
      score: this.score.subarray(0, n),
      tier: this.tier.subarray(0, n),
      cellStart: this.cellStart.subarray(0, n),
      cellCount: this.cellCount.subarray(0, n),
      cellClass: this.cellClass.subarray(0, n),
      cells: this.cells.exportParts(),
      dedupHi: dedup.hi,
      dedupLo: dedup.lo,
      dedupSeenAt: dedup.seenAt,
    };
  }

  /** A state rebuilt from exportParts() of an identical config and partition. */
  static fromParts(config: Config, partition: number, p: ReturnType<PartitionState["exportParts"]>): PartitionState {
    const n = p.memberCount;
    const state = new PartitionState(config, partition, Math.max(1024, Math.ceil(n * 1.25)));
    state.ids.set(p.ids);
    state.score.set(p.score);
    state.tier.set(p.tier);
    state.cellStart.set(p.cellStart);
    state.cellCount.set(p.cellCount);
    state.cellClass.set(p.cellClass);
    state.memberCount = n;
    state.rebuildIndex(indexSlotsFor(Math.max(n * 2, 16)));
    state.cells = CellArena.fromParts(p.cells);
    state.dedup = new DedupHorizon(config.dedupHorizonMs, Math.max(1024, p.dedupHi.length));
    for (let k = 0; k < p.dedupHi.length; k++) state.dedup.add(p.dedupHi[k], p.dedupLo[k], p.dedupSeenAt[k]);
    state.clock = p.clock;
    state.clockMonth = monthIndexOf(p.clock, state.utcOffsetMs);
    state.monthStart = monthStartMs(state.clockMonth, state.utcOffsetMs);
    state.monthEnd = monthStartMs(state.clockMonth + 1, state.utcOffsetMs);
    return state;
  }

  /** Bytes held by this partition's state (members, index, cells; the dedup horizon apart). */
  get memberBytes(): number {
    const perMember = 8 + 4 + 1 + 4 + 2 + 1;
    return this.ids.length * perMember + this.index.byteLength + this.cells.bytes;
  }
}

/** Member id → index slot: a hash independent of partitionOf's (members of one partition share h mod P). */
function slotHash(member: number): number {
  return slotHashOf(memberHash32(member));
}

function slotHashOf(memberHash: number): number {
  return fmix32(memberHash ^ 0x2545f491);
}

function indexSlotsFor(members: number): number {
  let slots = 16;
  while (slots * INDEX_LOAD_MAX < members) slots *= 2;
  return slots;
}

function take(pts: Uint32Array, c: number, want: number): number {
  const got = pts[c] < want ? pts[c] : want;
  pts[c] -= got;
  return got;
}

function saturatingAdd(a: number, b: number): number {
  const s = a + b;
  return s > U32_MAX ? U32_MAX : s;
}

function resized<T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(a: T, capacity: number): T {
  const out = new (a.constructor as new (n: number) => T)(capacity);
  out.set(a);
  return out;
}
