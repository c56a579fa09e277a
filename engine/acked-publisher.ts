// AckedPublisher: JetStream publishes through one ReplyInbox (proto/reply-inbox.ts), with a
// cap on what is in flight across every partition of the engine. The PubAck JetStream sends
// to each publish's reply subject gives the stored sequence; an overdue or refused one fails
// the job, which the caller retries with the same Nats-Msg-Id, so a late or lost ack never
// stores a job twice.

import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { readPubAck } from "../proto/pub-ack.ts";
import { ReplyInbox } from "../proto/reply-inbox.ts";

const SWEEP_INTERVAL_MS = 250;
/** PubAcks handled in one go at most (ms): the runners' TimeSlice bounds applying the same way. */
const ACK_SLICE_MS = 2;

export class AckedPublisher {
  private readonly inbox: ReplyInbox;
  private roomWaiters: (() => void)[] = [];

  constructor(
    nc: NatsConnection,
    /**
     * Publishes in flight across every partition of the engine. PubAcks queue in the
     * server for this connection; too many and it is cut off as a slow consumer.
     */
    readonly inFlightMax = 16_384,
    ackTimeoutMs = 5000,
    now: () => number = Date.now,
  ) {
    this.inbox = new ReplyInbox(nc, ackTimeoutMs, {
      sweepIntervalMs: SWEEP_INTERVAL_MS,
      now,
      onSettled: () => this.settled(),
      sliceMs: ACK_SLICE_MS,
      keepForResend: true,
    });
    void this.resendOnReconnect(nc);
  }

  /** Publishes sent again at once after a reconnect (for tests and the logs). */
  resentAfterReconnect = 0;

  /**
   * After a disconnect, a publish in flight may be lost while later ones, which nats.js held in
   * its buffer, are stored. Left to its ack timeout, the lost one is stored only seconds later,
   * and a crash in between leaves a gap before the partition's newest stored change, which a
   * restart takes as "everything before is stored". So on reconnect every publish still
   * waiting goes again at once (the server drops the ones it has: Nats-Msg-Id), which shrinks
   * that window from the ack timeout to the moment after reconnecting.
   */
  private async resendOnReconnect(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "reconnect") this.resentAfterReconnect += this.inbox.resendAll();
    }
  }

  get inFlight(): number {
    return this.inbox.size;
  }

  get full(): boolean {
    return this.inbox.size >= this.inFlightMax;
  }

  /** Resolves when fewer than inFlightMax publishes are in flight. */
  room(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  send(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, onStored: (seq: number) => void, onFailed: (err: Error) => void): void {
    this.inbox.send(
      subject,
      data,
      headers,
      (msg) => {
        if (msg.headers?.hasError) {
          onFailed(new Error(`status ${msg.headers.code} ${msg.headers.description}`));
          return;
        }
        const ack = readPubAck(msg.data);
        if (typeof ack === "number") onStored(ack);
        else onFailed(ack);
      },
      (err) => onFailed(err.code === "no_responders" ? new Error("no responders: no stream takes this subject") : err),
    );
  }

  /** Fails every job still waiting (the caller is stopping). */
  close(): void {
    this.inbox.close();
  }

  private settled(): void {
    if (this.roomWaiters.length > 0 && !this.full) for (const w of this.roomWaiters.splice(0)) w();
  }
}
