// DedupHorizon: the (id, kind) fingerprints a partition applied within the last
// `horizonMs` of its event time.
//
// Entries arrive in seenAt order (the partition clock never goes back), so they live in a
// FIFO ring and expire by moving its tail — nothing else. The index over the ring is
// open-addressing without deletion: a slot holds [ring position + 1, fingerprint high half],
// and a slot whose position fell behind the tail is simply stale. When live plus stale slots
// pass half the index, a fresh index is started and the live entries move into it a few per
// insert, oldest first; until they all have, a lookup that misses the new index also reads the
// old one for positions not moved yet. Measured on the realistic population, stale slots
// replaced per-entry backward-shift deletion that cost a quarter of the apply time; moving
// entries a few at a time replaced a rebuild in one go that held a partition for up to 47 ms
// (8 M orders of the bench population over 64 partitions; the longest message applied went
// from 54 to 21 ms — `bun run bench apply` reports it).
//
// Fingerprints are 64 bits. Two different orders collide with probability ~n²/2^65 for n
// orders inside the horizon (≈ 3·10⁻⁸ at a million) — the price of not keeping id strings.

const INDEX_LOAD_MAX = 0.5;
/** Live entries moved into the new index per insert while one is being filled. */
const MOVES_PER_INSERT = 16;
const POSITION_MAX = 0xfffffffe; // positions are stored +1 in a Uint32

export class DedupHorizon {
  private fpHi: Uint32Array;
  private fpLo: Uint32Array;
  private seenAt: Float64Array;
  /** Ring positions are absolute counters; slot = position & ringMask. */
  private head = 0;
  private tail = 0;
  private ringMask: number;
  /** Pairs [position + 1 (0 = empty), fpHi]. */
  private index: Uint32Array;
  private indexMask: number;
  /** Non-empty index slots, live or stale. */
  private indexUsed = 0;
  /** The index being emptied into `index`, or null; its positions ≥ moveFrom are not moved yet. */
  private oldIndex: Uint32Array | null = null;
  private oldMask = 0;
  private moveFrom = 0;
  private moveEnd = 0;

  constructor(
    readonly horizonMs: number,
    capacity = 1024,
  ) {
    const ring = ceilPow2(capacity);
    this.fpHi = new Uint32Array(ring);
    this.fpLo = new Uint32Array(ring);
    this.seenAt = new Float64Array(ring);
    this.ringMask = ring - 1;
    this.index = new Uint32Array(ring * 4 * 2);
    this.indexMask = ring * 4 - 1;
  }

  get size(): number {
    return this.head - this.tail;
  }

  get bytes(): number {
    return this.fpHi.byteLength + this.fpLo.byteLength + this.seenAt.byteLength + this.index.byteLength + (this.oldIndex?.byteLength ?? 0);
  }

  /** Forgets every entry with `now − seenAt ≥ horizonMs`. */
  expire(now: number): void {
    const limit = now - this.horizonMs;
    const mask = this.ringMask;
    while (this.tail < this.head && this.seenAt[this.tail & mask] <= limit) this.tail++;
  }

  has(hi: number, lo: number): boolean {
    return this.present(hi, lo);
  }

  /** Adds the fingerprint unless present; returns false (and adds nothing) when present. */
  addIfAbsent(hi: number, lo: number, seenAt: number): boolean {
    if (this.present(hi, lo)) return false;
    this.insert(hi, lo, seenAt);
    return true;
  }

  add(hi: number, lo: number, seenAt: number): void {
    console.assert(!this.present(hi, lo), "add of a fingerprint already present");
    this.insert(hi, lo, seenAt);
  }

  /** The live entries, oldest first, as three arrays (for snapshots; no object per entry). */
  exportArrays(): { hi: Uint32Array; lo: Uint32Array; seenAt: Float64Array } {
    const n = this.size;
    const hi = new Uint32Array(n);
    const lo = new Uint32Array(n);
    const seenAt = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const s = (this.tail + k) & this.ringMask;
      hi[k] = this.fpHi[s];
      lo[k] = this.fpLo[s];
      seenAt[k] = this.seenAt[s];
    }
    return { hi, lo, seenAt };
  }

  /** Every live entry, oldest first (for tests). */
  *entries(): Generator<[hi: number, lo: number, seenAt: number]> {
    for (let p = this.tail; p < this.head; p++) {
      const s = p & this.ringMask;
      yield [this.fpHi[s], this.fpLo[s], this.seenAt[s]];
    }
  }

  /**
   * Touches what n inserts of these fingerprints will read (see PartitionState.warm); reads
   * only. While an old index is being emptied, that is also each fingerprint's slot in it (a
   * miss in the new index asks the old one) and the new index's slots of the entries the
   * inserts will move: touched here, one independent load after another, their cache misses
   * overlap instead of each move waiting for its own.
   */
  warm(hi: Uint32Array, lo: Uint32Array, n: number): number {
    const index = this.index;
    const mask = this.indexMask;
    let sum = 0;
    for (let k = 0; k < n; k++) sum += index[2 * (slotOf(hi[k], lo[k]) & mask)];
    const old = this.oldIndex;
    if (old !== null) {
      const oldMask = this.oldMask;
      for (let k = 0; k < n; k++) sum += old[2 * (slotOf(hi[k], lo[k]) & oldMask)];
      const ringMask = this.ringMask;
      const from = Math.max(this.moveFrom, this.tail);
      const end = Math.min(this.moveEnd, from + n * MOVES_PER_INSERT);
      for (let pos = from; pos < end; pos++) {
        const s = pos & ringMask;
        sum += index[2 * (slotOf(this.fpHi[s], this.fpLo[s]) & mask)];
      }
    }
    return sum;
  }

  /** Whether a live entry has the fingerprint: in the index, or not moved yet from the old one. */
  private present(hi: number, lo: number): boolean {
    if (this.findIn(this.index, this.indexMask, hi, lo, this.tail)) return true;
    return this.oldIndex !== null && this.findIn(this.oldIndex, this.oldMask, hi, lo, Math.max(this.tail, this.moveFrom));
  }

  /** Whether `index` holds the fingerprint at a position ≥ minPos. */
  private findIn(index: Uint32Array, mask: number, hi: number, lo: number, minPos: number): boolean {
    for (let i = slotOf(hi, lo) & mask; ; i = (i + 1) & mask) {
      const posPlus1 = index[2 * i];
      if (posPlus1 === 0) return false;
      if (index[2 * i + 1] !== hi) continue;
      const pos = posPlus1 - 1;
      if (pos >= minPos && this.fpLo[pos & this.ringMask] === lo) return true;
    }
  }

  private insert(hi: number, lo: number, seenAt: number): void {
    if (this.size === this.ringMask + 1) this.growRing();
    if (this.head >= POSITION_MAX) this.renumber();
    const pos = this.head++;
    const s = pos & this.ringMask;
    this.fpHi[s] = hi;
    this.fpLo[s] = lo;
    this.seenAt[s] = seenAt;
    if (this.oldIndex !== null) this.moveSome(MOVES_PER_INSERT);
    if (this.indexUsed + 1 > (this.indexMask + 1) * INDEX_LOAD_MAX) this.startNewIndex();
    this.place(pos, hi, lo);
  }

  private place(pos: number, hi: number, lo: number): void {
    const index = this.index;
    const mask = this.indexMask;
    let i = slotOf(hi, lo) & mask;
    while (index[2 * i] !== 0) i = (i + 1) & mask;
    index[2 * i] = pos + 1;
    index[2 * i + 1] = hi;
    this.indexUsed++;
  }

  /**
   * Starts a fresh index sized for four times the ring; the live entries move into it over
   * the next inserts (MOVES_PER_INSERT each: done long before the new index fills).
   */
  private startNewIndex(): void {
    if (this.oldIndex !== null) this.moveSome(Number.POSITIVE_INFINITY); // not expected: the last move is long done
    this.oldIndex = this.index;
    this.oldMask = this.indexMask;
    this.moveFrom = this.tail;
    this.moveEnd = this.head - 1; // the entry being inserted goes straight into the new index
    const slots = ceilPow2(Math.max((this.ringMask + 1) * 4, this.size * 4));
    this.index = new Uint32Array(slots * 2);
    this.indexMask = slots - 1;
    this.indexUsed = 0;
    if (this.moveFrom >= this.moveEnd) this.oldIndex = null;
  }

  /** Moves up to n live entries, oldest first, from the old index's range into the index. */
  private moveSome(n: number): void {
    if (this.moveFrom < this.tail) this.moveFrom = this.tail; // expired ones need no move
    for (let k = 0; k < n && this.moveFrom < this.moveEnd; k++) {
      const pos = this.moveFrom++;
      const s = pos & this.ringMask;
      this.place(pos, this.fpHi[s], this.fpLo[s]);
    }
    if (this.moveFrom >= this.moveEnd) this.oldIndex = null;
  }

  /** Doubles the ring, keeping positions (so both indexes stay valid). */
  private growRing(): void {
    const ring = (this.ringMask + 1) * 2;
    const fpHi = new Uint32Array(ring);
    const fpLo = new Uint32Array(ring);
    const seenAt = new Float64Array(ring);
    const mask = ring - 1;
    for (let p = this.tail; p < this.head; p++) {
      const from = p & this.ringMask;
      fpHi[p & mask] = this.fpHi[from];
      fpLo[p & mask] = this.fpLo[from];
      seenAt[p & mask] = this.seenAt[from];
    }
    this.fpHi = fpHi;
    this.fpLo = fpLo;
    this.seenAt = seenAt;
    this.ringMask = mask;
  }

  /**
   * Positions restart at 0 (in one go, once every ~4 billion inserts of a partition): the
   * live entries move to the ring's start and into a fresh index.
   */
  private renumber(): void {
    const n = this.size;
    const ring = this.ringMask + 1;
    const fpHi = new Uint32Array(ring);
    const fpLo = new Uint32Array(ring);
    const seenAt = new Float64Array(ring);
    for (let k = 0; k < n; k++) {
      const from = (this.tail + k) & this.ringMask;
      fpHi[k] = this.fpHi[from];
      fpLo[k] = this.fpLo[from];
      seenAt[k] = this.seenAt[from];
    }
    this.fpHi = fpHi;
    this.fpLo = fpLo;
    this.seenAt = seenAt;
    this.tail = 0;
    this.head = n;
    this.oldIndex = null;
    const slots = ceilPow2(Math.max(ring * 4, n * 4));
    this.index = new Uint32Array(slots * 2);
    this.indexMask = slots - 1;
    this.indexUsed = 0;
    for (let k = 0; k < n; k++) this.place(k, fpHi[k], fpLo[k]);
  }

  /** For tests: forces the position counter near its limit, so the next inserts renumber. */
  skipPositionsForTest(to: number): void {
    console.assert(this.size === 0, "only an empty horizon can skip positions");
    this.tail = this.head = to;
    this.oldIndex = null;
    this.index.fill(0);
    this.indexUsed = 0;
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
