// TierLog: reads one member's stored tier changes from TIER_EVENTS.
//
// A resume reads "the next message on tier.<p>.<member> at or after seq" (STREAM.MSG.GET with
// next_by_subj) until there is none: one request per change plus one, and nothing created
// on the server — an ordered consumer per resume would cost a consumer create and delete per
// connection, which a reconnect storm of thousands of clients turns into a storm of
// consumer operations. Members change tier rarely, so k + 1 small requests is the cheap path.
// At most READS_IN_FLIGHT_MAX reads are outstanding across all connections of the gateway;
// the rest wait their turn, so a gateway restart does not flood JetStream.

import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream";
import { STREAM_TIER_EVENTS, tierSubject } from "../../proto/names.ts";
import type { TierFrame } from "../client/frames.ts";
import { parseStoredTier } from "./frames.ts";

export const READS_IN_FLIGHT_MAX = 32;

export class TierLogError extends Error {
  override readonly name = "TierLogError";
  readonly code = "tier_log_unreadable";
}

export class TierLog {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  reads = 0;

  constructor(private readonly jsm: JetStreamManager) {}

  /** The member's first stored change with seq ≥ fromSeq, or null when there is none yet. */
  async next(member: number, partition: number, fromSeq: number): Promise<TierFrame | null> {
    // A finishing read hands its slot straight to the first waiter.
    if (this.inFlight < READS_IN_FLIGHT_MAX) this.inFlight++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      this.reads++;
      // next_by_subj is a NextMsgRequest; this client types STREAM.MSG.GET's query narrower.
      const query = { seq: fromSeq, next_by_subj: tierSubject(partition, member) } as unknown as MsgRequest;
      const m = await this.jsm.streams.getMessage(STREAM_TIER_EVENTS, query);
      if (m === null) return null;
      const frame = parseStoredTier(m.data, member, m.seq);
      if (frame === null) throw new TierLogError(`TIER_EVENTS message ${m.seq} on ${m.subject} is not a tier change of ${member}`);
      return frame;
    } catch (err) {
      if (err instanceof TierLogError) throw err;
      throw new TierLogError(`reading TIER_EVENTS for member ${member}: ${(err as Error).message}`, { cause: err });
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }
}
