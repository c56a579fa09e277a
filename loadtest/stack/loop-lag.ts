// Event-loop lag of the process it runs in: a timer every TICK_MS notes how late it fired.
// A stalled loop (a long synchronous stretch, a collection, the CPU given to other processes)
// delays everything the process does, whichever callback was waiting.

const TICK_MS = 10;

export interface LoopLag {
  maxMs: number;
  /** Ticks that fired more than 50 ms late. */
  over50Ms: number;
  ticks: number;
}

export class LoopLagMonitor {
  private lag: LoopLag = { maxMs: 0, over50Ms: 0, ticks: 0 };
  private last = performance.now();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor() {
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - this.last - TICK_MS;
      this.last = now;
      this.lag.ticks++;
      if (late > this.lag.maxMs) this.lag.maxMs = late;
      if (late > 50) this.lag.over50Ms++;
    }, TICK_MS);
    this.timer.unref();
  }

  /** The lag since the last call, and a fresh start. */
  take(): LoopLag {
    const out = this.lag;
    this.lag = { maxMs: 0, over50Ms: 0, ticks: 0 };
    return out;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
