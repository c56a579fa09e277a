// The order, tick and tier-change types of the contract.

export const TIERS = ["bronze", "silver", "gold", "platinum", "diamond", "black_diamond"] as const;
export type Tier = (typeof TIERS)[number];
export const TIER_COUNT = TIERS.length;

export const DEFAULT_LINES = ["taobao", "tmall", "eleme", "fliggy", "hema"] as const;

export const ORDER_KINDS = ["paid", "refund"] as const;
export type OrderKind = (typeof ORDER_KINDS)[number];

/** Largest member id: ids are integers 1 … 2^53−1. */
export const MEMBER_MAX = Number.MAX_SAFE_INTEGER;
/** Whether v is a member id: an integer 1 … 2^53−1. */
export const isMemberId = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MEMBER_MAX;
/** Order ids are at most 64 bytes of UTF-8. */
export const ORDER_ID_BYTES_MAX = 64;
/**
 * Largest amount accepted, in cents (100 million yuan). It keeps `amount × milli` below 2^53
 * for any points-per-yuan up to 900, so the points formula is exact in a double.
 */
export const AMOUNT_CENTS_MAX = 10_000_000_000;
/** Largest number of items in one ORDERS message. */
export const BATCH_ITEMS_MAX = 10_000;

export interface Order {
  id: string;
  member: number;
  line: string;
  kind: OrderKind;
  /** Integer cents, > 0. */
  amount: number;
  /** Event time, ms since the Unix epoch. */
  ts: number;
  /** For a refund: the time of the original order (its month loses the points). */
  orderTs?: number;
}

export interface Tick {
  kind: "tick";
  ts: number;
}

export type OrderEvent = Order | Tick;

export interface TierChange {
  member: number;
  from: Tier;
  to: Tier;
  score: number;
  /** Event time of the cause. */
  ts: number;
  /** The order id, or "rollover" for a month-start re-evaluation. */
  cause: string;
  /** TIER_EVENTS stream sequence; not in the message body, read from JetStream metadata. */
  seq: number;
}

export const isTick = (e: OrderEvent): e is Tick => e.kind === "tick";
