// The pacer: every tick it publishes the orders the rate profile asks for by now and that are
// not out yet (so a late tick catches up and a profile's shape is met however the ticks
// fall), and it records why it fell behind when it did:
//   - blocked: the publish window was full — the target is not acknowledging as fast as asked;
//   - busy:    generating and publishing took the whole tick — the generator itself is the limit.
// Time is injected (ms since the start), so tests drive it tick by tick.

import type { RateProfile } from "./rate-profile.ts";
import type { Timeline } from "./timeline.ts";

export interface PacerSink {
  /** True while the publish window is full: a tick then sends nothing. */
  readonly full: boolean;
  /** Generates and publishes `count` orders now (at `ms` since the start). */
  publish(count: number, ms: number): void;
}

export interface PacerOptions {
  /** How often the pacer wakes. */
  tickMs: number;
  /** At most this many ms of the current rate go out in one tick, so a stall does not burst. */
  catchUpMsMax: number;
  /** ms since the start of the load, monotonic. */
  now: () => number;
  /** Called after every tick (the run loop hangs the probes on it). */
  onTick?: (ms: number) => void;
}

export const PACER_DEFAULTS = { tickMs: 10, catchUpMsMax: 100 } as const;

export class Pacer {
  /** Orders handed to the sink so far. */
  offered = 0;
  private stopped = false;

  constructor(
    private readonly profile: RateProfile,
    private readonly sink: PacerSink,
    private readonly timeline: Timeline,
    private readonly opts: PacerOptions,
  ) {
    if (!(opts.tickMs >= 1 && opts.tickMs <= 1000)) throw new RangeError("tickMs 1 … 1000");
    if (!(opts.catchUpMsMax >= opts.tickMs)) throw new RangeError("catchUpMsMax ≥ tickMs");
  }

  /** One tick at `ms` since the start. */
  tick(ms: number): void {
    const t = this.timeline;
    t.count("ticks", ms);
    const due = Math.floor(this.profile.ordersBy(ms)) - this.offered;
    if (due <= 0) return;
    if (this.sink.full) return t.count("blockedTicks", ms);
    const capped = Math.min(due, Math.max(1, Math.ceil((this.profile.rateAt(ms) * this.opts.catchUpMsMax) / 1000)));
    this.sink.publish(capped, ms);
    this.offered += capped;
    t.count("offered", ms, capped);
  }

  /** Ticks until the profile's end (or stop()); the last tick asks for the profile's total. */
  async run(): Promise<void> {
    const { now, tickMs } = this.opts;
    const end = this.profile.durationMs;
    for (;;) {
      const t = now();
      if (t >= end || this.stopped) break;
      this.tick(t);
      this.opts.onTick?.(t);
      const busy = now() - t;
      this.timeline.count("busyMs", t, busy);
      await Bun.sleep(Math.max(0, tickMs - busy));
    }
    if (!this.stopped) this.tick(end - 1e-3);
  }

  stop(): void {
    this.stopped = true;
  }
}
