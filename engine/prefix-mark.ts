// PrefixMark: one partition run's place on one marked stream (tier changes in TIER_EVENTS, dead
// letters in ORDERS_DLQ): where it starts, what it must not publish again, its stored prefix as
// it moves, and the mark that records it (tier-marks.ts has the protocol, stored-prefix.ts the
// prefix). A runner keeps one per track.

import type { JetStreamManager } from "@nats-io/jetstream";
import { isAfter, type Position } from "./outbox.ts";
import { type PrefixEntry, StoredPrefix } from "./stored-prefix.ts";
import { type MarkTrack, positionText, type RecoveryPath, searchPosition, type TierMarks, type TrackStart } from "./tier-marks.ts";

export class PrefixMark {
  /** Everything at or before this position was stored before this run: not published again. */
  readonly startPos: Position;
  readonly recoveredBy: RecoveryPath;
  /** The highest stream sequence of the partition's messages known stored. */
  newestSeq: number;
  private readonly prefix: StoredPrefix;
  /** Messages after the prefix that the start found stored already ("<orderSeq>.<k>" → seq); null: none. */
  private readonly storedAtStart: ReadonlyMap<string, number> | null;
  /** What the mark last written says, and the write in flight. */
  private written = "";
  private write: Promise<void> = Promise.resolve();
  private writing = false;

  private constructor(
    private readonly partition: number,
    private readonly track: MarkTrack,
    private readonly marks: TierMarks | undefined,
    start: TrackStart,
  ) {
    this.startPos = start.pos;
    this.recoveredBy = start.path;
    this.newestSeq = start.newest.seq;
    this.storedAtStart = start.storedAfter.size > 0 ? start.storedAfter : null;
    this.prefix = new StoredPrefix(start, start.scanFrom, start.storedUpTo);
  }

  /**
   * Finds where partition p stands on the track (its mark, or the search) and, with marks,
   * writes the mark before anything is published (a failure fails the start).
   */
  static async start(p: number, track: MarkTrack, marks: TierMarks | undefined, jsm: JetStreamManager): Promise<PrefixMark> {
    const start = marks ? await marks.recover(p, track) : await searchPosition(jsm, p, track);
    const pm = new PrefixMark(p, track, marks, start);
    if (marks) {
      const scanFrom = pm.scanFrom();
      await marks.opened(p, track, pm.prefix.prefix, scanFrom);
      pm.written = pm.key(scanFrom);
    }
    return pm;
  }

  /** The message at (orderSeq, k): null when it is stored already (skip it), else its entry, to report stored. */
  take(orderSeq: number, k: number): PrefixEntry | null {
    if (!isAfter([orderSeq, k], this.startPos)) return null; // in the prefix the run started from
    const storedSeq = this.storedAtStart?.get(`${orderSeq}.${k}`);
    if (storedSeq !== undefined) {
      this.prefix.add(orderSeq, k, storedSeq); // stored after that prefix, before a crash
      return null;
    }
    return this.prefix.add(orderSeq, k);
  }

  /** The message of `entry` is stored at stream sequence `seq`. */
  stored(entry: PrefixEntry, seq: number): void {
    this.prefix.stored(entry, seq);
    this.marks?.noteStored(this.track, seq);
    if (seq > this.newestSeq) this.newestSeq = seq;
  }

  /** Nothing after the prefix is stored or in flight. */
  get settled(): boolean {
    return this.prefix.settled;
  }

  /**
   * Called each second while the partition runs: when the prefix moved, the mark follows, so
   * that a start after a crash reads little of the stream. Not awaited; one write at a time; a
   * failed one only leaves the mark older.
   */
  refresh(): void {
    if (!this.marks || this.writing) return;
    const scanFrom = this.scanFrom();
    const key = this.key(scanFrom);
    if (key === this.written) return;
    this.writing = true;
    this.write = this.marks
      .refreshed(this.partition, this.track, this.prefix.prefix, scanFrom)
      .then(() => void (this.written = key))
      .catch(() => {})
      .finally(() => void (this.writing = false));
  }

  /** A clean stop, every message stored: the mark says so, and the next start reads nothing after it. */
  async close(): Promise<void> {
    await this.write;
    if (!this.marks || !this.prefix.settled) return;
    await this.marks.closed(this.partition, this.track, this.prefix.prefix);
  }

  /** Waits for a refresh in flight (a stop that will not close the mark). */
  async idle(): Promise<void> {
    await this.write;
  }

  /**
   * Where a start after a crash reads the stream from: with nothing after the prefix in
   * flight, just past the highest sequence this engine has seen stored (any message of this
   * partition from now on lands above it); else the prefix's own bound.
   */
  private scanFrom(): number {
    const seen = this.marks?.seenSeq(this.track) ?? 0;
    return this.prefix.settled ? Math.max(this.prefix.scanFrom, seen + 1) : this.prefix.scanFrom;
  }

  /** What a mark written now with `scanFrom` would say (a refresh writes only when it differs from the last). */
  private key(scanFrom: number): string {
    const { pos, seq } = this.prefix.prefix;
    return `${positionText(pos)}@${seq}/${scanFrom}`;
  }
}
