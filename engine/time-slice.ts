// A shared time slice for the partitions' consume loops. Messages already pulled are handed
// to `for await` as resolved promises, so 64 busy loops can run for tens of milliseconds
// without ever letting the event loop read a socket — PubAcks, live tier publishes and member
// requests all wait behind them. After `sliceMs` of work a loop yields to the event loop
// (setImmediate runs after pending I/O), which bounds how long anything else waits.
//
// One slice per turn of the event loop, for all loops together, handed round robin. Each loop
// used to start a fresh slice of its own when it resumed: every loop that had yielded resumed
// in the same check phase, so with 64 busy partitions one turn could run 64 slices (128 ms)
// before the next socket read. Now the loops wait in line and each turn resumes only the
// first in line. (Resuming them all and letting them share the slice does not work:
// each resumed loop passes the check before any of them has done its work, so a turn still
// ran one message per waiting loop.) A loop that ran joins the back of the line when it
// yields again: no partition starves. A loop that runs out of messages early leaves
// the rest of its slice unused; the next in line gets the next turn, after a socket read.

export class TimeSlice {
  private startedAt: number;
  /** Loops waiting for a slice, first come first served. */
  private line: (() => void)[] = [];
  private turnScheduled = false;
  yields = 0;

  constructor(
    readonly sliceMs = 2,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.startedAt = now();
  }

  /** Resolves at once while the slice lasts; otherwise in a later turn, when this loop's slice comes. */
  async yieldIfSpent(): Promise<void> {
    if (this.now() - this.startedAt < this.sliceMs) return;
    this.yields++;
    await new Promise<void>((resolve) => {
      this.line.push(resolve);
      this.schedule();
    });
  }

  /** A new slice for the first loop in line; the others wait for the turns after. */
  private turn(): void {
    this.turnScheduled = false;
    this.startedAt = this.now();
    const first = this.line.shift();
    if (this.line.length > 0) this.schedule();
    first?.();
  }

  private schedule(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => this.turn());
  }
}
