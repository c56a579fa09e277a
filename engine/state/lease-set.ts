// LeaseSet: member id → lease expiry (ms), in two typed arrays with open addressing.
// The engine keeps one per partition for the members some gateway watches: 16 bytes a slot,
// no object per member; linear probing with backward-shift deletion, so no tombstones.

import { fmix32, memberHash32 } from "../../proto/partition.ts";

const EMPTY = 0; // member ids start at 1
const LOAD_MAX = 0.5;

export class LeaseSet {
  private keys: Float64Array;
  private expiresAt: Float64Array;
  private mask: number;
  size = 0;

  constructor(capacity = 64) {
    let slots = 16;
    while (slots * LOAD_MAX < capacity) slots *= 2;
    this.keys = new Float64Array(slots);
    this.expiresAt = new Float64Array(slots);
    this.mask = slots - 1;
  }

  has(member: number): boolean {
    if (this.size === 0) return false;
    for (let i = slot(member) & this.mask; ; i = (i + 1) & this.mask) {
      const k = this.keys[i];
      if (k === member) return true;
      if (k === EMPTY) return false;
    }
  }

  /** Adds the member or extends its lease to `expiresAtMs` (never shortens it). */
  renew(member: number, expiresAtMs: number): void {
    let i = slot(member) & this.mask;
    for (; ; i = (i + 1) & this.mask) {
      const k = this.keys[i];
      if (k === member) {
        if (expiresAtMs > this.expiresAt[i]) this.expiresAt[i] = expiresAtMs;
        return;
      }
      if (k === EMPTY) break;
    }
    if ((this.size + 1) > (this.mask + 1) * LOAD_MAX) {
      this.grow();
      return this.renew(member, expiresAtMs);
    }
    this.keys[i] = member;
    this.expiresAt[i] = expiresAtMs;
    this.size++;
  }

  /** Brings the member's lease forward to `atMs` if it ran longer (absent: nothing). */
  shorten(member: number, atMs: number): void {
    for (let i = slot(member) & this.mask; ; i = (i + 1) & this.mask) {
      const k = this.keys[i];
      if (k === EMPTY) return;
      if (k === member) {
        if (this.expiresAt[i] > atMs) this.expiresAt[i] = atMs;
        return;
      }
    }
  }

  delete(member: number): void {
    for (let i = slot(member) & this.mask; ; i = (i + 1) & this.mask) {
      const k = this.keys[i];
      if (k === EMPTY) return;
      if (k === member) return this.removeAt(i);
    }
  }

  /** Where the stepwise sweep goes on (expireStep). */
  private sweepAt = 0;

  /**
   * Drops the expired leases in the next 1/parts of the table, going on from where the last
   * step stopped: `parts` steps sweep it all. One full sweep of a large table (a million
   * watched members: ~2 M slots, 9–12 ms) held the event loop in one go; in steps it does
   * not. An entry that a removal shifts back past the cursor waits for the next round.
   */
  expireStep(nowMs: number, parts: number): number {
    const mask = this.mask;
    const slots = Math.ceil((mask + 1) / parts);
    let i = this.sweepAt & mask;
    let dropped = 0;
    for (let visited = 0; visited < slots && this.size > 0; ) {
      if (this.keys[i] !== EMPTY && this.expiresAt[i] <= nowMs) {
        this.removeAt(i); // may pull a later entry into i: look at i again
        dropped++;
      } else {
        i = (i + 1) & mask;
        visited++;
      }
    }
    this.sweepAt = i;
    return dropped;
  }

  get bytes(): number {
    return this.keys.byteLength + this.expiresAt.byteLength;
  }

  private removeAt(i: number): void {
    const mask = this.mask;
    let hole = i;
    for (let j = (i + 1) & mask; this.keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = slot(this.keys[j]) & mask;
      const homeBetween = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!homeBetween) {
        this.keys[hole] = this.keys[j];
        this.expiresAt[hole] = this.expiresAt[j];
        hole = j;
      }
    }
    this.keys[hole] = EMPTY;
    this.expiresAt[hole] = 0;
    this.size--;
  }

  private grow(): void {
    const keys = this.keys;
    const expiresAt = this.expiresAt;
    const slots = keys.length * 2;
    this.keys = new Float64Array(slots);
    this.expiresAt = new Float64Array(slots);
    this.mask = slots - 1;
    this.size = 0;
    this.sweepAt = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.renew(keys[i], expiresAt[i]);
  }
}

function slot(member: number): number {
  return fmix32(memberHash32(member) ^ 0x68e31da4);
}
