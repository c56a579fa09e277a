// Coalesced, bounded writes to feed sockets.
//
// The first frame a socket gets in a tick schedules one microtask flush for every socket
// written to in that tick; the flush sends each socket's frames inside one cork (one write
// instead of one per frame). After each socket's flush its buffered amount is checked: a
// client that does not read is cut off (1013) instead of being buffered for without limit.

import type { GatewayMetrics } from "../metrics.ts";
import type { OutFrame } from "./frames.ts";
import type { FeedSocket } from "./socket.ts";

/** Frames queued for one socket in one tick before it is flushed early. */
export const OUT_FRAMES_MAX = 256;

export type CloseReason = "backpressure" | "seam_overflow" | "engine_unavailable" | "replay_failed" | "shutdown";

export class SocketWriter {
  private dirty: FeedSocket[] = [];
  private flushScheduled = false;
  private readonly frameCounters;

  constructor(
    private readonly bufferedBytesMax: number,
    metrics: GatewayMetrics,
    /** Closes a socket the writer gave up on (the hub's cut). */
    private readonly cut: (ws: FeedSocket, code: number, reason: CloseReason) => void,
  ) {
    // Bound label children: the hot path does no label lookup.
    const c = metrics.wsFrames;
    this.frameCounters = {
      hello: c.labels("hello"),
      tier: c.labels("tier"),
      score: c.labels("score"),
      benefit: c.labels("benefit"),
      benefit_closed: c.labels("benefit_closed"),
    } as const;
  }

  send(ws: FeedSocket, frame: OutFrame): void {
    const d = ws.data;
    if (d.phase === "closed") return;
    if (d.out === null) {
      d.out = [];
      this.dirty.push(ws);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(this.flush);
      }
    }
    d.out.push(frame.encoded(d.format));
    this.frameCounters[frame.type].inc();
    if (d.out.length >= OUT_FRAMES_MAX) this.flushSocket(ws);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (let i = 0; i < dirty.length; i++) this.flushSocket(dirty[i]);
  };

  private flushSocket(ws: FeedSocket): void {
    const d = ws.data;
    const out = d.out;
    d.out = null;
    if (out === null || d.phase === "closed") return;
    // send(): > 0 bytes written, −1 queued under backpressure, 0 dropped (Bun's own limit).
    let dropped = false;
    ws.cork(() => {
      for (let i = 0; i < out.length && !dropped; i++) dropped = ws.send(out[i]) === 0;
    });
    if (dropped || ws.getBufferedAmount() > this.bufferedBytesMax) this.cut(ws, 1013, "backpressure");
  }
}
