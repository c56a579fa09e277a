// StoredPrefix: how far one partition's tier changes are stored without a gap.
//
// Changes are published in position order, but are not always stored in that order: after a
// NATS disconnect a change in flight can be lost while later ones are stored, and it is stored
// only when it is sent again. So "the newest stored change" says nothing of the ones before
// it. The prefix does: it is the newest change such that it and every change before it are
// stored. With it goes `scanFrom`, a TIER_EVENTS sequence below which no change after the
// prefix is stored. Together they are what a tier mark records (tier-marks.ts): the next
// runner skips the prefix and reads TIER_EVENTS from scanFrom for the changes stored after it.

import { isAfter, type Position, POSITION_NONE } from "./outbox.ts";
import type { Recovered } from "./tier-marks.ts";

/** One change after the prefix: its position, and its TIER_EVENTS seq once stored (0 before). */
export interface PrefixEntry {
  orderSeq: number;
  k: number;
  seq: number;
}

const COMPACT_AT = 1024;

export class StoredPrefix {
  /** Changes after the prefix, in position order; entries before `head` are in the prefix. */
  private entries: PrefixEntry[] = [];
  private head = 0;
  private prefixPos: Position;
  private prefixSeq: number;

  constructor(
    start: Recovered,
    /**
     * A floor for scanFrom while changes the last run stored after `start` lie ahead: the
     * sequence the start read TIER_EVENTS from (they are at or above it).
     */
    private startScanFrom: number,
    /** The last of the changes stored after `start` that the start found (none: POSITION_NONE). */
    private readonly startStoredUpTo: Position = POSITION_NONE,
  ) {
    this.prefixPos = start.pos;
    this.prefixSeq = start.seq;
    if (!isAfter(startStoredUpTo, start.pos)) this.startScanFrom = Number.POSITIVE_INFINITY;
  }

  /** The prefix: its newest change, and that change's TIER_EVENTS seq (0: none stored). */
  get prefix(): Recovered {
    return { pos: this.prefixPos, seq: this.prefixSeq };
  }

  /** No change after the prefix is stored at a TIER_EVENTS seq below this. */
  get scanFrom(): number {
    let from = Math.min(this.prefixSeq + 1, this.startScanFrom);
    for (let i = this.head; i < this.entries.length; i++) {
      const seq = this.entries[i].seq;
      if (seq > 0 && seq < from) from = seq;
    }
    return from;
  }

  /** Changes after the prefix (stored or not). */
  get after(): number {
    return this.entries.length - this.head;
  }

  /** Nothing after the prefix is stored or in flight, as far as this run knows (the start's finds included). */
  get settled(): boolean {
    return this.after === 0 && this.startScanFrom === Number.POSITIVE_INFINITY;
  }

  /** The next change, in position order; `storedSeq` when it is stored already (found at start). */
  add(orderSeq: number, k: number, storedSeq = 0): PrefixEntry {
    const e: PrefixEntry = { orderSeq, k, seq: storedSeq };
    this.entries.push(e);
    if (storedSeq > 0) this.advance();
    return e;
  }

  /** The change `e` is stored at TIER_EVENTS seq `seq`. */
  stored(e: PrefixEntry, seq: number): void {
    console.assert(seq > 0, "a stored change has a sequence");
    e.seq = seq;
    this.advance();
  }

  private advance(): void {
    const entries = this.entries;
    let i = this.head;
    while (i < entries.length && entries[i].seq > 0) {
      const e = entries[i++];
      this.prefixPos = [e.orderSeq, e.k];
      this.prefixSeq = e.seq;
    }
    this.head = i;
    if (!isAfter(this.startStoredUpTo, this.prefixPos)) this.startScanFrom = Number.POSITIVE_INFINITY;
    if (i >= COMPACT_AT && i * 2 >= entries.length) {
      this.entries = entries.slice(i);
      this.head = 0;
    }
  }
}
