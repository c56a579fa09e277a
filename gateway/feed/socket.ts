// What the hub keeps per connection: a handful of numbers and references, no closures, no
// timers. The seam buffer and the write queue exist only while they hold something.

import type { ServerWebSocket } from "bun";
import type { TierFrame } from "../client/frames.ts";
import type { FeedFormat, OutFrame } from "./frames.ts";
import type { MemberEntry } from "./registry.ts";

/**
 * opening   — subscribed, waiting for the member view (hello);
 * replaying — hello sent; stored changes are being read from TIER_EVENTS, live frames buffer;
 * live      — frames go straight out;
 * closed    — closed by either side; nothing more is sent.
 */
export const PHASES = ["opening", "replaying", "live", "closed"] as const;
export type Phase = (typeof PHASES)[number];

/** Live frames that arrived while the connection was not live yet (bounded by SEAM_FRAMES_MAX). */
export class Seam {
  readonly frames: OutFrame<TierFrame>[] = [];
  /** A score tick went by while replaying: the member's next window re-sends the latest score. */
  scoreMissed = false;
}

export interface FeedSocketData {
  readonly member: number;
  readonly format: FeedFormat;
  /** `?since=`, or −1 when none was given. */
  readonly since: number;
  phase: Phase;
  /** Highest tier seq this connection has been sent (hello.seq at first). */
  lastSeq: number;
  /** The member's tier after the last tier frame sent: the next change must start from it. */
  lastTier: string;
  seam: Seam | null;
  /** Frames waiting for this tick's coalesced write; null when there are none. */
  out: (string | Uint8Array)[] | null;
  entry: MemberEntry | null;
}

export type FeedSocket = ServerWebSocket<FeedSocketData>;

export function socketData(member: number, format: FeedFormat, since: number): FeedSocketData {
  return { member, format, since, phase: "opening", lastSeq: 0, lastTier: "", seam: null, out: null, entry: null };
}

