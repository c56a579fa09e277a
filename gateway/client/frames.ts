// The frames of the WebSocket feed (CONTRACT.md v1, "WebSocket feed"). Dependency-free: the
// gateway's hub and the member apps' FeedClient both compile against these types.

export type Tier = "bronze" | "silver" | "gold" | "platinum" | "diamond" | "black_diamond";

/** First frame of every connection: the member now, and the seq every later tier frame exceeds. */
export interface HelloFrame {
  type: "hello";
  member: number;
  tier: Tier;
  score: number;
  /** Every tier frame that follows on this connection has a higher seq. */
  seq: number;
}

/** One stored tier change (TIER_EVENTS); `seq` is its stream sequence. */
export interface TierFrame {
  type: "tier";
  member: number;
  from: Tier;
  to: Tier;
  score: number;
  /** Event time of the cause, ms. */
  ts: number;
  /** The order id, or "rollover". */
  cause: string;
  seq: number;
}

/** Live score tick, at most one per member per 100 ms; `delta` sums the changes since the last tick. */
export interface ScoreFrame {
  type: "score";
  member: number;
  score: number;
  delta: number;
  line: string;
  ts: number;
}

export interface BenefitFrame {
  type: "benefit";
  benefit: string;
  eligible: true;
  endsAt: number;
  remaining: number | null;
}

export interface BenefitClosedFrame {
  type: "benefit_closed";
  benefit: string;
  reason: string;
}

export type Frame = HelloFrame | TierFrame | ScoreFrame | BenefitFrame | BenefitClosedFrame;
export type FrameType = Frame["type"];

/** Close codes the gateway uses. */
export const FEED_CLOSE = {
  /** The gateway is stopping: resume elsewhere with `since`. */
  goingAway: 1001,
  /** A message larger than the gateway accepts (clients send nothing but pings). */
  tooBig: 1009,
  /** The engine (member view) or TIER_EVENTS (replay) did not answer: resume with `since`. */
  internalError: 1011,
  /** The client read too slowly (or its member produced a burst while it was resuming): resume with `since`. */
  tryAgainLater: 1013,
} as const;

/** The WebSocket subprotocol that selects binary msgpack frames. */
export const FEED_PROTOCOL_MSGPACK = "msgpack";
/** Accepted and selected for symmetry; JSON text frames are also what no subprotocol gives. */
export const FEED_PROTOCOL_JSON = "json";
