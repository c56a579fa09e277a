// A shared time slice for the partitions' consume loops. Messages already pulled are handed
// to `for await` as resolved promises, so 64 busy loops can run for tens of milliseconds
// without ever letting the event loop read a socket — PubAcks, live tier publishes and member
// requests all wait behind them. After `sliceMs` of work any loop yields once to the event
// loop (setImmediate runs after pending I/O), which bounds how long anything else waits.

export class TimeSlice {
  private startedAt = performance.now();
  yields = 0;

  constructor(readonly sliceMs = 2) {}

  /** Resolves at once while the slice lasts; otherwise after the event loop has had a turn. */
  async yieldIfSpent(): Promise<void> {
    if (performance.now() - this.startedAt < this.sliceMs) return;
    this.yields++;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.startedAt = performance.now();
  }
}
