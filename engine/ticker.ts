// Ticker: keeps quiet partitions' event-time clocks moving. Every tickIntervalMs, each owned,
// caught-up partition whose clock lags the wall clock by at least that much gets a
// {kind:"tick", ts: now} in its own ORDERS subject — through the log, so a replay sees the
// same ticks. Busy partitions get none: their orders move their clocks.

import type { JetStreamClient } from "@nats-io/jetstream";
import { encodeOrder } from "../proto/codec.ts";
import { ordersSubject } from "../proto/names.ts";
import type { Logger } from "./log.ts";
import type { PartitionRunner } from "./partition-runner.ts";

export class Ticker {
  private timer: ReturnType<typeof setInterval> | null = null;
  private inFlight = false;
  ticksPublished = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly runners: ReadonlyMap<number, PartitionRunner>,
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round: a tick to every quiet partition, published together. */
  async tick(): Promise<void> {
    if (this.inFlight) return; // the last round is still waiting for acks
    this.inFlight = true;
    const ts = this.now();
    const sends: Promise<unknown>[] = [];
    for (const [p, r] of this.runners) {
      if (!r.caughtUp || ts - r.state.clock < this.intervalMs) continue;
      sends.push(this.js.publish(ordersSubject(p), encodeOrder({ kind: "tick", ts }), { msgID: `k.${p}.${ts}` }));
    }
    const results = await Promise.allSettled(sends);
    const failed = results.filter((r) => r.status === "rejected").length;
    this.ticksPublished += results.length - failed;
    if (failed > 0) this.log.warn(`${failed} of ${results.length} ticks not published; next round retries`);
    this.inFlight = false;
  }
}
