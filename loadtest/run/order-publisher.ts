// The generator's sink: orders from the population, written straight into one message per
// partition (no allocation per order), published on one NATS connection through one reply
// inbox (proto/reply-inbox.ts: no promise, timer or inbox mapping per message), with at most
// `inFlightMax` messages unacknowledged. Each PubAck is timed: publish → PubAck per message.

import type { NatsConnection } from "@nats-io/transport-node";
import { ordersSubject } from "../../proto/names.ts";
import { ReplyInbox } from "../../proto/reply-inbox.ts";
import type { PartitionBatcher } from "../partition-batcher.ts";
import type { OrderGenerator } from "../population.ts";
import type { PacerSink } from "./pacer.ts";
import type { Timeline } from "./timeline.ts";

export interface PublisherOptions {
  /** Orders per message at most (one message per partition per tick otherwise). */
  ordersPerMessage: number;
  /** Messages published and not yet acknowledged, at most. */
  inFlightMax: number;
  ackTimeoutMs: number;
}

export const PUBLISHER_DEFAULTS: PublisherOptions = { ordersPerMessage: 256, inFlightMax: 4096, ackTimeoutMs: 10_000 };

const decoder = new TextDecoder();

/** Orders in a message body: its msgpack array header (partition-batcher.ts writes both forms). */
export const ordersIn = (body: Uint8Array): number => (body[0] === 0xdc ? (body[1] << 8) | body[2] : body[0] & 0x0f);

export class OrderPublisher implements PacerSink {
  private readonly inbox: ReplyInbox;
  private readonly batcher: PartitionBatcher;
  private readonly subjects: string[];
  messages = 0;
  firstError: string | null = null;

  constructor(
    nc: NatsConnection,
    private readonly gen: OrderGenerator,
    partitions: number,
    private readonly timeline: Timeline,
    /** ms since the start of the load. */
    private readonly now: () => number,
    private readonly opts: PublisherOptions = PUBLISHER_DEFAULTS,
  ) {
    this.inbox = new ReplyInbox(nc, opts.ackTimeoutMs, { sweepIntervalMs: 250 });
    this.subjects = Array.from({ length: partitions }, (_, p) => ordersSubject(p));
    this.batcher = gen.batcher(partitions, opts.ordersPerMessage, (p, view) => this.send(p, view));
  }

  get inFlight(): number {
    return this.inbox.size;
  }

  get full(): boolean {
    return this.inbox.size >= this.opts.inFlightMax;
  }

  publish(count: number): void {
    this.gen.eventTsNow = Date.now(); // event time follows the wall clock, whatever the rate
    this.gen.writeBatches(count, this.batcher);
    this.batcher.flush();
  }

  private send(p: number, view: Uint8Array): void {
    const body = view.slice(); // the view is the batcher's reused buffer
    const n = ordersIn(body);
    const sentMs = this.now();
    this.messages++;
    this.inbox.send(
      this.subjects[p],
      body,
      undefined,
      (msg) => {
        const at = this.now();
        const text = msg.headers?.hasError ? `status ${msg.headers.code}` : decoder.decode(msg.data);
        if (msg.headers?.hasError || text.includes('"error"')) return this.failed(at, n, `JetStream refused a publish: ${text}`);
        this.timeline.count("acked", at, n);
        this.timeline.latency("ack", sentMs, at - sentMs);
      },
      (err) => this.failed(this.now(), n, err.message),
    );
  }

  private failed(at: number, orders: number, why: string): void {
    this.timeline.count("errors", at, orders);
    this.firstError ??= why;
  }

  /** Waits until every message is acknowledged or failed, or `deadlineMs` passed. */
  async drain(deadlineMs: number): Promise<boolean> {
    const until = performance.now() + deadlineMs;
    while (this.inbox.size > 0 && performance.now() < until) await Bun.sleep(10);
    return this.inbox.size === 0;
  }

  close(): void {
    this.inbox.close();
  }
}
