// TierMarks: where each partition's tier changes stood when its runner stopped cleanly, in a
// small KV bucket, so that the next runner of the partition finds its place without a search
// of TIER_EVENTS.
//
// Why: before it replays, a runner must know the last change TIER_EVENTS holds for its
// partition (outbox.ts, recoverPosition). On nats-server 2.9 the only question for that is
// last_by_subj on `tier.<p>.>`, a wildcard, which the file store answers by walking its
// blocks' subject tables from the end. On the catch-up bench (637 k changes, 64 partitions)
// that took 6–7 ms a partition, one partition after another (the server answers them in
// turn): 0.34–0.56 s of a 2.4 s restart, and half a second of nats-server CPU. It grows with
// the stream and with the partition count.
//
// The protocol, per partition key:
//   - A runner that starts reads the mark. A "closed" mark is trusted once its message checks
//     out (it is in TIER_EVENTS, on the partition, at the marked position); anything else —
//     no mark, an "open" one, one that does not check out (the stream was purged, recreated,
//     or the message aged out) — means the search, as before.
//   - Before it publishes anything, the runner writes the mark "open": from then on nobody
//     trusts an old closed mark, whatever happens to this runner.
//   - A runner that stops cleanly (not fenced, every change stored) writes "closed" with its
//     newest stored change, before its lease is released.
// A crash or a lost lease leaves the mark open, and the next runner searches.

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { StorageType } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { openRacing } from "../proto/create-race.ts";
import { BUCKET_TIER_MARKS, STREAM_TIER_EVENTS, tierPartitionFilter } from "../proto/names.ts";
import { type Position, POSITION_NONE, recoverPosition, storedPositionOf } from "./outbox.ts";

export interface Recovered {
  pos: Position;
  /** TIER_EVENTS sequence of that change (0: none). */
  seq: number;
}

/** How a runner found its partition's last stored change. */
export type RecoveryPath = "mark" | "search";

interface Mark {
  state: "open" | "closed";
  /** TIER_EVENTS sequence of the newest stored change (0: none stored). */
  seq: number;
  /** Its position, "<orderSeq>.<k>". */
  pos: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class TierMarks {
  private constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
  ) {}

  static async open(js: JetStreamClient, jsm: JetStreamManager, replicas = 1): Promise<TierMarks> {
    // History 1: only the newest mark of a partition matters. File storage: a mark must
    // survive a server restart as TIER_EVENTS does.
    const kv = await openRacing(() => new Kvm(js).create(BUCKET_TIER_MARKS, { history: 1, replicas, storage: StorageType.File }));
    return new TierMarks(kv, jsm);
  }

  /** The last change TIER_EVENTS holds for partition p, and how it was found. */
  async recover(p: number): Promise<Recovered & { path: RecoveryPath }> {
    const trusted = await this.closedMark(p).catch(() => null);
    if (trusted !== null) return { ...trusted, path: "mark" };
    return { ...(await recoverPosition(this.jsm, STREAM_TIER_EVENTS, tierPartitionFilter(p))), path: "search" };
  }

  /** p's runner is about to publish: its mark stops being trusted (awaited before the first publish). */
  async opened(p: number, from: Recovered): Promise<void> {
    await this.write(p, { state: "open", seq: from.seq, pos: positionText(from.pos) });
  }

  /** p's runner stopped with every change stored, the newest being `last`. */
  async closed(p: number, last: Recovered): Promise<void> {
    await this.write(p, { state: "closed", seq: last.seq, pos: positionText(last.pos) });
  }

  private async write(p: number, mark: Mark): Promise<void> {
    await this.kv.put(String(p), encoder.encode(JSON.stringify(mark)));
  }

  /** p's closed mark, if it checks out against TIER_EVENTS; else null. */
  private async closedMark(p: number): Promise<Recovered | null> {
    const entry = await this.kv.get(String(p));
    if (!entry || entry.operation !== "PUT") return null;
    const mark = markOf(entry.value);
    if (mark === null || mark.state !== "closed") return null;
    if (mark.seq === 0) return mark.pos === positionText(POSITION_NONE) ? { pos: POSITION_NONE, seq: 0 } : null;
    const m = await this.jsm.streams.getMessage(STREAM_TIER_EVENTS, { seq: mark.seq });
    if (!m || !m.subject.startsWith(`tier.${p}.`)) return null;
    const pos = storedPositionOf(m);
    return pos !== null && positionText(pos) === mark.pos ? { pos, seq: m.seq } : null;
  }
}

function positionText(pos: Position): string {
  return `${pos[0]}.${pos[1]}`;
}

function markOf(value: Uint8Array): Mark | null {
  try {
    const v = JSON.parse(decoder.decode(value)) as Partial<Mark>;
    const ok = (v.state === "open" || v.state === "closed") && Number.isSafeInteger(v.seq) && (v.seq as number) >= 0 && typeof v.pos === "string";
    return ok ? (v as Mark) : null;
  } catch {
    return null;
  }
}
