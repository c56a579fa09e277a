// CellArena: every member's (month, line) → points cells of one partition, in two flat
// Uint32Arrays. A member owns one block of 2^class contiguous cells; a block that fills moves
// to the next class and the old one goes on a free list of its class. 8 bytes per cell, no
// object per member or per cell.
//
// A cell's key is (monthIndex << LINE_BITS) | line. monthIndex (year × 12 + month) stays below
// 2^27 until the year 11 000, so a key fits in 32 bits.

export const LINE_BITS = 5;
export const LINE_MASK = (1 << LINE_BITS) - 1;
export const CLASS_MAX = 12; // 4096 cells: 120 months × 32 lines fits
const FREE_END = 0xffffffff;

export const cellKey = (monthIndex: number, line: number): number => ((monthIndex << LINE_BITS) | line) >>> 0;
export const cellMonth = (key: number): number => key >>> LINE_BITS;
export const cellLine = (key: number): number => key & LINE_MASK;

export class CellArena {
  keys: Uint32Array;
  points: Uint32Array;
  /** Cells handed out so far (the bump pointer). */
  used = 0;
  /** Head of each class's free list; a free block's first key links to the next. */
  private readonly freeHead = new Uint32Array(CLASS_MAX + 1).fill(FREE_END);
  private freeCells = 0;

  constructor(capacityCells = 1024) {
    this.keys = new Uint32Array(capacityCells);
    this.points = new Uint32Array(capacityCells);
  }

  /** Start of a new block of 2^cls cells. */
  alloc(cls: number): number {
    // The check inline, console.assert only when it fails: a native call per block allocated
    // was ~1 % of a catch-up's profile.
    if (!(cls >= 0 && cls <= CLASS_MAX)) console.assert(false, "cell class out of range");
    const head = this.freeHead[cls];
    if (head !== FREE_END) {
      this.freeHead[cls] = this.keys[head];
      this.freeCells -= 1 << cls;
      return head;
    }
    const size = 1 << cls;
    if (this.used + size > this.keys.length) this.grow(this.used + size);
    const start = this.used;
    this.used += size;
    return start;
  }

  free(start: number, cls: number): void {
    this.keys[start] = this.freeHead[cls];
    this.freeHead[cls] = start;
    this.freeCells += 1 << cls;
  }

  /** Cells allocated and not on a free list. */
  get liveCells(): number {
    return this.used - this.freeCells;
  }

  get bytes(): number {
    return this.keys.byteLength + this.points.byteLength;
  }

  /** What a snapshot keeps: the used cells and the free lists. */
  exportParts(): { keys: Uint32Array; points: Uint32Array; freeHead: Uint32Array; freeCells: number } {
    return {
      keys: this.keys.subarray(0, this.used),
      points: this.points.subarray(0, this.used),
      freeHead: this.freeHead,
      freeCells: this.freeCells,
    };
  }

  static fromParts(p: { keys: Uint32Array; points: Uint32Array; freeHead: Uint32Array; freeCells: number }): CellArena {
    console.assert(p.keys.length === p.points.length && p.freeHead.length === CLASS_MAX + 1, "cell arena parts");
    const arena = new CellArena(Math.max(1024, Math.ceil(p.keys.length * 1.25)));
    arena.keys.set(p.keys);
    arena.points.set(p.points);
    arena.used = p.keys.length;
    arena.freeHead.set(p.freeHead);
    arena.freeCells = p.freeCells;
    return arena;
  }

  private grow(minCells: number): void {
    // ×1.5 rather than ×2: at ten million members the slack is memory we pay for.
    const capacity = Math.max(minCells, Math.ceil(this.keys.length * 1.5));
    const keys = new Uint32Array(capacity);
    const points = new Uint32Array(capacity);
    keys.set(this.keys.subarray(0, this.used));
    points.set(this.points.subarray(0, this.used));
    this.keys = keys;
    this.points = points;
  }
}
