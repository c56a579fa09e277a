// ClaimTally: units won per benefit across every partition. Engines use it for `remaining`
// and a fast `sold_out`; gateways for GET /v1/benefits and the benefit_closed push. It trails
// the claims themselves; claims never rely on it to stay within inventory.
//
// Two sources, each a lower bound of the truth, merged per (benefit, partition) by taking the
// larger:
//   - at start, the CLAIMS records stored so far, read once through an OrderedPull;
//   - from then on, the owners' announcements on TALLY_SUBJECT: every TALLY_ANNOUNCE_MS each
//     engine publishes the absolute counts of its partitions whose wins moved, in one message
//     (engine/benefits/benefits.ts).
// Why not keep reading CLAIMS: every engine and every gateway would receive every claim
// record — deliveries growing as claims × readers. In a storm on one engine and one gateway,
// the two readers cost a quarter of the claims/s (measured with them switched off). An
// announcement carries every claim of its partition since the last one.
// Counts only grow (a won record is never taken back), so the larger of two is the later, and
// announcements may arrive in any order, twice, or from two owners during a hand-off.

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { parseClaimRecord } from "./claim-record.ts";
import { CLAIMS_ALL_FILTER, STREAM_CLAIMS } from "./names.ts";
import { connectionOf, type PullLogger } from "./ordered-pull.ts";
import { readSubject } from "./read-subject.ts";

export type TallyListener = (benefit: string, claimed: number) => void;

/** Owners announce their partitions' won counts here: `{"won": {"<p>": {"<benefit>": n, …}, …}}`. */
export const TALLY_SUBJECT = "tierstream.tally";
/**
 * How often an engine announces the partitions whose counts moved. Short: at the end of a
 * drop, partitions that ran dry wait for the tally to say "sold out" (engine/benefits/allotment.ts).
 */
export const TALLY_ANNOUNCE_MS = 5;

const quiet: PullLogger = { info() {}, warn() {} };
const decoder = new TextDecoder();

export interface TallyAnnouncement {
  /** partition → benefit → units won there. */
  won: Record<string, Record<string, number>>;
}

export class ClaimTally {
  private readonly won = new Map<string, number>();
  /** benefit → partition → the largest count either source gave. */
  private readonly byPartition = new Map<string, number[]>();
  private readonly listeners: TallyListener[] = [];
  private sub: Subscription | null = null;
  private stopped = false;
  /** Announcements ignored because they were not a tally. */
  malformed = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  /** Resolves once every record stored before the call is counted. */
  async start(log: PullLogger = quiet): Promise<void> {
    const nc: NatsConnection = connectionOf(this.js);
    // Announcements first: one sent while the records are read is not missed (the larger wins).
    this.sub = nc.subscribe(TALLY_SUBJECT, {
      callback: (err, msg) => {
        if (err || this.stopped) return;
        const a = parseAnnouncement(msg.data);
        if (a === null) {
          this.malformed++;
          return;
        }
        for (const [p, counts] of Object.entries(a.won)) for (const [benefit, n] of Object.entries(counts)) this.raise(benefit, Number(p), n);
      },
    });
    await nc.flush();
    const last = (await this.jsm.streams.info(STREAM_CLAIMS)).state.last_seq;
    const replayed = new Map<string, number[]>();
    try {
      for await (const m of readSubject(this.js, STREAM_CLAIMS, CLAIMS_ALL_FILTER, last)) {
        if (this.stopped) return;
        const r = parseClaimRecord(m.data);
        const p = partitionOfSubject(m.subject);
        if (r === null || r.outcome !== "won" || p < 0) continue;
        let counts = replayed.get(r.benefit);
        if (!counts) replayed.set(r.benefit, (counts = []));
        counts[p] = (counts[p] ?? 0) + 1;
        this.raise(r.benefit, p, counts[p]);
      }
    } catch (err) {
      log.warn(`claim tally: reading ${STREAM_CLAIMS} failed (${(err as Error).message})`);
      throw err;
    }
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
  }

  claimed(benefit: string): number {
    return this.won.get(benefit) ?? 0;
  }

  onClaimed(listener: TallyListener): void {
    this.listeners.push(listener);
  }

  /** Partition p has won at least n units of the benefit. */
  private raise(benefit: string, p: number, n: number): void {
    let counts = this.byPartition.get(benefit);
    if (!counts) this.byPartition.set(benefit, (counts = []));
    const before = counts[p] ?? 0;
    if (n <= before) return;
    counts[p] = n;
    const total = (this.won.get(benefit) ?? 0) + (n - before);
    this.won.set(benefit, total);
    for (const l of this.listeners) l(benefit, total);
  }
}

/** p of "claims.<p>.<member>", or −1. */
function partitionOfSubject(subject: string): number {
  const a = subject.indexOf(".");
  const b = subject.indexOf(".", a + 1);
  const p = Number(subject.slice(a + 1, b));
  return a > 0 && b > a && Number.isInteger(p) && p >= 0 ? p : -1;
}

export function encodeAnnouncement(a: TallyAnnouncement): string {
  return JSON.stringify(a);
}

export function parseAnnouncement(data: Uint8Array): TallyAnnouncement | null {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  const a = v as TallyAnnouncement;
  if (typeof a !== "object" || a === null || typeof a.won !== "object" || a.won === null) return null;
  for (const [p, counts] of Object.entries(a.won)) {
    const partition = Number(p);
    if (!Number.isInteger(partition) || partition < 0 || typeof counts !== "object" || counts === null) return null;
    for (const n of Object.values(counts)) if (!Number.isSafeInteger(n) || n < 0) return null;
  }
  return a;
}
