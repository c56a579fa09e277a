// ClaimTally: units won per benefit across every partition, counted from the CLAIMS stream by
// an ordered consumer (nothing durable on the server). Engines use it for `remaining` and a
// fast `sold_out`; gateways for GET /v1/benefits and the benefit_closed push. It trails the
// stream by the delivery time; claims themselves never rely on it to stay within inventory.
// It reads through an OrderedPull (ordered-pull.ts): every engine and gateway reads every
// record during a storm, and nats.js's consumer parses each message's reply subject and
// headers into objects the tally never looks at.

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { parseClaimRecord } from "./claim-record.ts";
import { CLAIMS_ALL_FILTER, STREAM_CLAIMS } from "./names.ts";
import { connectionOf, OrderedPull, type PullLogger } from "./ordered-pull.ts";

/** Claim records pulled ahead of the tally, at most (a record is ~150 bytes). */
const READ_AHEAD_BYTES = 1024 * 1024;
const quiet: PullLogger = { info() {}, warn() {} };

export type TallyListener = (benefit: string, claimed: number) => void;

export class ClaimTally {
  private readonly won = new Map<string, number>();
  private readonly listeners: TallyListener[] = [];
  private pull: OrderedPull | null = null;
  private stopped = false;
  lastSeq = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  /** Resolves once every record stored before the call is counted. */
  async start(log: PullLogger = quiet): Promise<void> {
    const lastAtStart = (await this.jsm.streams.info(STREAM_CLAIMS)).state.last_seq;
    const pull = new OrderedPull({
      nc: connectionOf(this.js),
      jsm: this.jsm,
      apiPrefix: this.js.apiPrefix,
      stream: STREAM_CLAIMS,
      filter: CLAIMS_ALL_FILTER,
      maxBytes: READ_AHEAD_BYTES,
      log,
      label: "claim tally",
    });
    this.pull = pull;
    const info = await pull.start(1);
    let caughtUp!: () => void;
    const initial = new Promise<void>((resolve) => (caughtUp = resolve));
    // Nothing to read (an empty stream, or one whose last records were removed): counted already.
    if (lastAtStart === 0 || info.num_pending === 0) caughtUp();
    void (async () => {
      for await (const m of pull) {
        if (this.stopped) break;
        this.lastSeq = m.seq;
        const r = parseClaimRecord(m.data);
        if (r !== null && r.outcome === "won") {
          const n = (this.won.get(r.benefit) ?? 0) + 1;
          this.won.set(r.benefit, n);
          for (const l of this.listeners) l(r.benefit, n);
        }
        if (m.seq >= lastAtStart || m.pending === 0) caughtUp();
      }
    })();
    await initial;
  }

  stop(): void {
    this.stopped = true;
    void this.pull?.close();
  }

  claimed(benefit: string): number {
    return this.won.get(benefit) ?? 0;
  }

  onClaimed(listener: TallyListener): void {
    this.listeners.push(listener);
  }
}
