// ClaimTally: units won per benefit across every partition, counted from the CLAIMS stream by
// an ordered consumer (nothing durable on the server). Engines use it for `remaining` and a
// fast `sold_out`; gateways for GET /v1/benefits and the benefit_closed push. It trails the
// stream by the delivery time; claims themselves never rely on it to stay within inventory.

import type { ConsumerMessages, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { parseClaimRecord } from "./claim-record.ts";
import { CLAIMS_ALL_FILTER, STREAM_CLAIMS } from "./names.ts";

export type TallyListener = (benefit: string, claimed: number) => void;

export class ClaimTally {
  private readonly won = new Map<string, number>();
  private readonly listeners: TallyListener[] = [];
  private messages: ConsumerMessages | null = null;
  private stopped = false;
  lastSeq = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  /** Resolves once every record stored before the call is counted. */
  async start(): Promise<void> {
    const lastAtStart = (await this.jsm.streams.info(STREAM_CLAIMS)).state.last_seq;
    const consumer = await this.js.consumers.get(STREAM_CLAIMS, { filter_subjects: CLAIMS_ALL_FILTER });
    this.messages = await consumer.consume({ max_messages: 4096 });
    let caughtUp!: () => void;
    const initial = new Promise<void>((resolve) => (caughtUp = resolve));
    if (lastAtStart === 0) caughtUp();
    void (async () => {
      for await (const m of this.messages!) {
        this.lastSeq = m.seq;
        const r = parseClaimRecord(m.data);
        if (r !== null && r.outcome === "won") {
          const n = (this.won.get(r.benefit) ?? 0) + 1;
          this.won.set(r.benefit, n);
          for (const l of this.listeners) l(r.benefit, n);
        }
        if (m.seq >= lastAtStart) caughtUp();
        if (this.stopped) break;
      }
    })();
    await initial;
  }

  stop(): void {
    this.stopped = true;
    void this.messages?.close();
  }

  claimed(benefit: string): number {
    return this.won.get(benefit) ?? 0;
  }

  onClaimed(listener: TallyListener): void {
    this.listeners.push(listener);
  }
}
