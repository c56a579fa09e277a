// ScoreWindow: at most one score frame per member per SCORE_WINDOW_MS, on one coarse timer.
//
// A tick for a member whose last frame went out a window ago or more goes out at once;
// otherwise it is merged into the member's pending frame (latest score, line and ts; the
// deltas summed) and the timer sends it when the window ends. All connections of a member
// get the same frames at the same moments, so the limit holds per connection too. The timer
// runs only while some member has something pending — no timer per socket or per member.

import type { ScoreFrame } from "../client/frames.ts";
import type { MemberEntry } from "./registry.ts";

export const SCORE_WINDOW_MS = 100;
/** Timer resolution: a pending frame goes out at most this late after its window ends. */
export const SCORE_TICK_MS = 10;

export class ScoreWindow {
  private due: MemberEntry[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly now: () => number,
    private readonly send: (entry: MemberEntry, frame: ScoreFrame) => void,
  ) {}

  offer(entry: MemberEntry, tick: ScoreFrame): void {
    const p = entry.scorePending;
    if (p !== null) {
      p.score = tick.score;
      p.delta += tick.delta;
      p.line = tick.line;
      p.ts = tick.ts;
      return;
    }
    const now = this.now();
    if (now - entry.scoreSentAt >= SCORE_WINDOW_MS) return this.emit(entry, tick, now);
    entry.scorePending = { ...tick };
    this.schedule(entry);
  }

  /**
   * A connection went live after missing a tick while it replayed: the member's latest score
   * goes out again (delta 0) at the next window end, to all its connections.
   */
  refresh(entry: MemberEntry): void {
    if (entry.scorePending !== null || entry.scoreLast === null) return;
    entry.scorePending = { ...entry.scoreLast, delta: 0 };
    this.schedule(entry);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.due = [];
  }

  private schedule(entry: MemberEntry): void {
    this.due.push(entry);
    this.timer ??= setInterval(this.tick, SCORE_TICK_MS);
  }

  private emit(entry: MemberEntry, frame: ScoreFrame, now: number): void {
    entry.scoreSentAt = now;
    entry.scoreLast = frame;
    this.send(entry, frame);
  }

  private readonly tick = (): void => {
    const now = this.now();
    const due = this.due;
    this.due = [];
    for (const entry of due) {
      const frame = entry.scorePending;
      if (frame === null) continue; // its last connection closed
      if (now - entry.scoreSentAt < SCORE_WINDOW_MS) {
        this.due.push(entry);
        continue;
      }
      entry.scorePending = null;
      this.emit(entry, frame, now);
    }
    if (this.due.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  };
}
