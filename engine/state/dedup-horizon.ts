// DedupHorizon: the (id, kind) fingerprints a partition applied within the last
// `horizonMs` of its event time. Entries arrive in seenAt order (the partition clock never goes
// back), so they live in a FIFO ring and expire from its tail; an open-addressing index over
// the ring finds a fingerprint in O(1). Linear probing with backward-shift deletion keeps the
// index free of tombstones however long it runs.
//
// Fingerprints are 64 bits. Two different orders collide with probability ~n²/2^65 for n
// orders inside the horizon (≈ 3·10⁻⁸ at a million) — the price of not keeping id strings.

const EMPTY = -1;

export class DedupHorizon {
  private fpHi: Uint32Array;
  private fpLo: Uint32Array;
  private seenAt: Float64Array;
  /** Ring positions are absolute counters; slot = position & ringMask. */
  private head = 0;
  private tail = 0;
  private ringMask: number;
  private index: Int32Array;
  private indexMask: number;

  constructor(
    readonly horizonMs: number,
    capacity = 1024,
  ) {
    const ring = ceilPow2(capacity);
    this.fpHi = new Uint32Array(ring);
    this.fpLo = new Uint32Array(ring);
    this.seenAt = new Float64Array(ring);
    this.ringMask = ring - 1;
    this.index = new Int32Array(ring * 2).fill(EMPTY);
    this.indexMask = ring * 2 - 1;
  }

  get size(): number {
    return this.head - this.tail;
  }

  get bytes(): number {
    return this.fpHi.byteLength + this.fpLo.byteLength + this.seenAt.byteLength + this.index.byteLength;
  }

  /** Forgets every entry with `now − seenAt ≥ horizonMs`. */
  expire(now: number): void {
    const limit = now - this.horizonMs;
    while (this.tail < this.head) {
      const slot = this.tail & this.ringMask;
      if (this.seenAt[slot] > limit) break;
      this.unindex(slot);
      this.tail++;
    }
  }

  has(hi: number, lo: number): boolean {
    const mask = this.indexMask;
    for (let i = slotOf(hi, lo) & mask; ; i = (i + 1) & mask) {
      const ringSlot = this.index[i];
      if (ringSlot === EMPTY) return false;
      if (this.fpHi[ringSlot] === hi && this.fpLo[ringSlot] === lo) return true;
    }
  }

  /** Adds the fingerprint unless present; returns false (and adds nothing) when present. One probe. */
  addIfAbsent(hi: number, lo: number, seenAt: number): boolean {
    const mask = this.indexMask;
    let i = slotOf(hi, lo) & mask;
    for (; ; i = (i + 1) & mask) {
      const ringSlot = this.index[i];
      if (ringSlot === EMPTY) break;
      if (this.fpHi[ringSlot] === hi && this.fpLo[ringSlot] === lo) return false;
    }
    if (this.size === this.ringMask + 1) {
      this.add(hi, lo, seenAt); // grows and re-indexes
      return true;
    }
    // The caller passes the partition clock, which never goes back: the ring stays in seenAt order.
    const slot = this.head & this.ringMask;
    this.fpHi[slot] = hi;
    this.fpLo[slot] = lo;
    this.seenAt[slot] = seenAt;
    this.head++;
    this.index[i] = slot;
    return true;
  }

  add(hi: number, lo: number, seenAt: number): void {
    console.assert(this.size === 0 || seenAt >= this.seenAt[(this.head - 1) & this.ringMask], "seenAt went back");
    if (this.size === this.ringMask + 1) this.grow();
    const slot = this.head & this.ringMask;
    this.fpHi[slot] = hi;
    this.fpLo[slot] = lo;
    this.seenAt[slot] = seenAt;
    this.head++;
    const mask = this.indexMask;
    let i = slotOf(hi, lo) & mask;
    while (this.index[i] !== EMPTY) i = (i + 1) & mask;
    this.index[i] = slot;
  }

  /** Every live entry, oldest first (for snapshots and tests). */
  *entries(): Generator<[hi: number, lo: number, seenAt: number]> {
    for (let p = this.tail; p < this.head; p++) {
      const s = p & this.ringMask;
      yield [this.fpHi[s], this.fpLo[s], this.seenAt[s]];
    }
  }

  private unindex(ringSlot: number): void {
    const mask = this.indexMask;
    let i = slotOf(this.fpHi[ringSlot], this.fpLo[ringSlot]) & mask;
    while (this.index[i] !== ringSlot) {
      console.assert(this.index[i] !== EMPTY, "dedup entry missing from its index");
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: pull later entries of the probe run into the hole.
    let hole = i;
    for (let j = (i + 1) & mask; this.index[j] !== EMPTY; j = (j + 1) & mask) {
      const r = this.index[j];
      const home = slotOf(this.fpHi[r], this.fpLo[r]) & mask;
      // Move r into the hole unless its home lies cyclically in (hole, j].
      const homeBetween = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!homeBetween) {
        this.index[hole] = r;
        hole = j;
      }
    }
    this.index[hole] = EMPTY;
  }

  private grow(): void {
    // Copy the live entries oldest first into rings twice the size, then index them afresh.
    const n = this.size;
    const ring = (this.ringMask + 1) * 2;
    const fpHi = new Uint32Array(ring);
    const fpLo = new Uint32Array(ring);
    const seenAt = new Float64Array(ring);
    for (let k = 0; k < n; k++) {
      const s = (this.tail + k) & this.ringMask;
      fpHi[k] = this.fpHi[s];
      fpLo[k] = this.fpLo[s];
      seenAt[k] = this.seenAt[s];
    }
    this.fpHi = fpHi;
    this.fpLo = fpLo;
    this.seenAt = seenAt;
    this.ringMask = ring - 1;
    this.tail = 0;
    this.head = n;
    this.index = new Int32Array(ring * 2).fill(EMPTY);
    this.indexMask = ring * 2 - 1;
    for (let k = 0; k < n; k++) {
      let i = slotOf(fpHi[k], fpLo[k]) & this.indexMask;
      while (this.index[i] !== EMPTY) i = (i + 1) & this.indexMask;
      this.index[i] = k;
    }
  }
}

function slotOf(hi: number, lo: number): number {
  return (hi ^ Math.imul(lo, 0x9e3779b1)) >>> 0;
}

function ceilPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
